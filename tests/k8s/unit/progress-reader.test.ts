// The controller's progress reader on a real nats-server: the record under its key, absent
// records, no NATS, an unreachable NATS, malformed records. The writer side, with the real
// coordinator producing the record, is tests/coordinator/progress-kv.test.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProgressKey } from "../../../common/run-records.js";
import { parseRunSpec } from "../../../common/spec/index.js";
import { natsProgressReader, parseProgress } from "../../../controller/k8s/index.js";
import { freePort, waitFor } from "../../helpers/ports.js";

let nats: ChildProcess;
let dir: string;
let url: string;

beforeAll(async () => {
  const port = await freePort();
  dir = await mkdtemp(join(tmpdir(), "radfleet-k8s-nats-"));
  url = `nats://127.0.0.1:${port}`;
  nats = spawn(
    process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server",
    ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir],
    { stdio: "ignore" },
  );
  await waitFor("nats-server", async () => {
    const nc = await connect({ servers: url, timeout: 500 });
    await nc.close();
    return true;
  });
});
afterAll(async () => {
  nats?.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
});

describe("progress reader", () => {
  it("reads a run's record under its progress key in the spec's KV bucket", async () => {
    const nc = await connect({ servers: url });
    const kv = await new Kvm(nc).create("radfleet-runs");
    const record = {
      step: 120,
      totalSteps: 400,
      loss: 1.75,
      generation: 3,
      worldSize: 2,
      restarts: 1,
      lastCheckpoint: { step: 80, uri: "file:///ckpt/80", time: "2026-01-01T00:00:00Z" },
      evaluation: { rougeL_f: 0.25, hallucination_rate: 0.1 },
    };
    await kv.put(runProgressKey("run-a"), JSON.stringify(record));
    const reader = natsProgressReader({ timeoutMs: 2000 });
    const spec = parseRunSpec({ nats: { url } }).spec;
    const got = await reader.read({ namespace: "ml", name: "run-a" }, spec, AbortSignal.timeout(5000));
    expect(got).toEqual(record);
    expect(
      await reader.read({ namespace: "ml", name: "absent" }, spec, AbortSignal.timeout(5000)),
    ).toBeUndefined();
    // No NATS configured: no progress, no connection attempt.
    expect(
      await reader.read({ namespace: "ml", name: "run-a" }, parseRunSpec({}).spec, AbortSignal.timeout(1000)),
    ).toBeUndefined();
    await reader.close();
    await nc.close();
  });

  it("gives up within its timeout when NATS is unreachable", async () => {
    const reader = natsProgressReader({ timeoutMs: 300 });
    const dead = parseRunSpec({ nats: { url: `nats://127.0.0.1:${await freePort()}` } }).spec;
    expect(
      await reader.read({ namespace: "ml", name: "x" }, dead, AbortSignal.timeout(5000)),
    ).toBeUndefined();
    await reader.close();
  });

  it("rejects malformed records instead of reporting garbage", () => {
    expect(parseProgress("not json")).toBeUndefined();
    expect(parseProgress(JSON.stringify({ step: "3" }))).toBeUndefined();
    expect(parseProgress(JSON.stringify({ step: 3, totalSteps: 10, loss: "x" }))).toEqual({
      step: 3,
      totalSteps: 10,
    });
  });
});

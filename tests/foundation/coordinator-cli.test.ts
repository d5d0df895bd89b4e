// `radfleet coordinator` as the Kubernetes controller runs it: its own process, real gRPC clients.
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CoordinatorClient } from "../../common/coordinator-client/index.js";
import { freePort, waitFor } from "../helpers/ports.js";

const BIN = join(import.meta.dirname, "../../bin/radfleet.js");

async function startCoordinatorProcess(token: string) {
  const dir = await mkdtemp(join(tmpdir(), "radfleet-coord-"));
  const spec = join(dir, "spec.yaml");
  await writeFile(spec, "replicas: { min: 2, max: 2 }\nrendezvous: { lastCallSeconds: 0.2 }\n");
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, "coordinator", "--run", "k8s-run", "--spec", spec, "--port", String(port), "--metrics-port", "0"],
    {
      env: { ...process.env, RADFLEET_TOKEN: token },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await waitFor(
    "the coordinator's gRPC port",
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => {
          s.end();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      }),
    30_000,
  );
  const connect = (workerId: string) =>
    CoordinatorClient.connect({
      address: `127.0.0.1:${port}`,
      runId: "k8s-run",
      token,
      workerId,
      collectiveAddress: `127.0.0.1:${1000 + workerId.length}`,
      connectTimeoutMs: 20_000,
    });
  return { child, exited, connect };
}

describe("radfleet coordinator", () => {
  it("exits 0 once every worker of the run has left done", async () => {
    const { exited, connect } = await startCoordinatorProcess("secret-token");
    const [a, b] = await Promise.all([connect("worker-0"), connect("worker-1")]);
    const [ga, gb] = await Promise.all([a.join(), b.join()]);
    expect([ga.rank, gb.rank].sort()).toEqual([0, 1]);
    await a.leave("done");
    await b.leave("done");
    await Promise.all([a.close(), b.close()]);
    expect(await exited).toBe(0);
  }, 60_000);

  it("exits 1 when a worker leaves failed, and refuses to start without a token", async () => {
    const { exited, connect } = await startCoordinatorProcess("t2");
    const a = await connect("worker-0");
    await a.leave("failed", "diverged");
    await a.close();
    expect(await exited).toBe(1);
    const noToken = spawn(process.execPath, [BIN, "coordinator", "--run", "x", "--spec", "y"], {
      env: { ...process.env, RADFLEET_TOKEN: "" },
      stdio: "ignore",
    });
    expect(await new Promise((r) => noToken.once("exit", r))).toBe(2);
  }, 60_000);
});

// A trainer that cannot start (here: its NATS checkpoint store is unreachable) exits with the
// reason, instead of living on with its coordination thread, collective listener and metrics
// server open. A launcher can only restart or fail a trainer that exits.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, test } from "vitest";
import { silentLogger } from "../../common/log.js";
import { trainerEnv } from "../../common/trainer-env.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { freePort } from "../helpers/ports.js";

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../bin/radfleet.js");
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

test("a trainer whose checkpoint store is unreachable exits 1 naming the store", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "radfleet-trainer-exit-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const coord = await startCoordinator({
    runId: "exit",
    token: "exit-token",
    minWorkers: 1,
    maxWorkers: 1,
    address: "127.0.0.1:0",
    logger: silentLogger,
  });
  cleanup.push(() => coord.close());
  const deadNats = `nats://127.0.0.1:${await freePort()}`;
  const specPath = path.join(dir, "spec.yaml");
  await writeFile(specPath, `nats:\n  url: ${deadNats}\ncheckpoint:\n  store:\n    type: nats\n`);
  const env = trainerEnv({
    runId: "exit",
    workerId: "w0",
    coordinator: coord.address,
    token: "exit-token",
    specPath,
    runDir: dir,
    metricsPort: 0,
    advertiseHost: "127.0.0.1",
  });
  const child = spawn(process.execPath, [BIN, "trainer"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 45_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.once("exit", (c, s) => resolve([c, s])),
  );
  clearTimeout(killer);
  expect(signal, "the trainer hung and was killed").toBeNull();
  expect(code).toBe(1);
  expect(stderr).toContain(
    `radfleet trainer: checkpoint store nats-obj://radfleet-checkpoints at ${deadNats}`,
  );
}, 60_000);

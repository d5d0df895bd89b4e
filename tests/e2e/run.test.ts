// End to end: `radfleet run` with two real trainer processes, a real coordinator on loopback and
// a synthetic data set on disk; then the same run with a trainer SIGKILLed mid-run.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/ports.js";
import { progress, radfleet, synthData, workerLogs, writeSpec } from "./helpers.js";

let root: string;
let specPath: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "radfleet-e2e-"));
  const data = join(root, "data");
  await synthData(data);
  specPath = join(root, "spec.yaml");
  await writeSpec(specPath, data, ["checkpoint: { interval: 4, keep: 2 }"]);
}, 120_000);

describe("radfleet run, two workers", () => {
  let cleanDir: string;

  it("trains, commits checkpoints, evaluates, keeps replicas identical and writes the adapter", async () => {
    cleanDir = join(root, "clean");
    const r = await radfleet(["run", specPath, "--run-dir", cleanDir, "--quiet"]).done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/fully accurate/);
    const p = await progress(cleanDir);
    expect(p.at(-1)!.step).toBe(10);
    expect(p.at(-1)!.loss).toBeLessThan(p[0].loss);
    // Retention keeps the last two committed checkpoints (steps 8 and 10).
    expect((await readdir(join(cleanDir, "checkpoints"))).sort()).toEqual([
      "step-000000008",
      "step-000000010",
    ]);
    const report = JSON.parse(await readFile(join(cleanDir, "eval", "final", "report.json"), "utf8"));
    expect(report.count).toBe(4);
    expect(existsSync(join(cleanDir, "adapter", "adapter_model.safetensors"))).toBe(true);
    const logs = await workerLogs(cleanDir);
    expect(logs).not.toMatch(/diverged/);
    expect(logs.match(/"event":"checkpoint_committed"/g)).toHaveLength(3); // steps 4, 8 and 10, by rank 0
  }, 300_000);

  it("recovers from a SIGKILLed trainer and ends with the same adapter as the uninterrupted run", async () => {
    const dir = join(root, "killed");
    const run = radfleet(["run", specPath, "--run-dir", dir, "--quiet"]);
    // Kill worker-1 once the run is past its first committed checkpoint (step 4).
    await waitFor("step 5", async () => (await progress(dir)).some((x) => x.step >= 5), 200_000, 100);
    const pid = Number((await readFile(join(dir, "logs", "worker-1.pid"), "utf8")).trim());
    process.kill(pid, "SIGKILL");
    const r = await run.done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/1 worker restart/);
    expect((await progress(dir)).at(-1)!.step).toBe(10);
    const logs = await workerLogs(dir);
    expect(logs).toMatch(/"event":"generation_lost"/);
    // Both the survivor and the replacement resume from the checkpoint committed at step 4.
    expect(logs.match(/"event":"checkpoint_restored"[^\n]*"step":4/g)).toHaveLength(2);
    const clean = await readFile(join(cleanDir, "adapter", "adapter_model.safetensors"));
    const recovered = await readFile(join(dir, "adapter", "adapter_model.safetensors"));
    expect(recovered.equals(clean)).toBe(true);
  }, 300_000);
});

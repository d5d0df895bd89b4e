// End to end: `radfleet run` with two real trainer processes, a real coordinator on loopback and
// a synthetic data set on disk; then the same run with a trainer SIGKILLed mid-run.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/ports.js";
import { progress, radfleet, synthData, workerLogs, writeSpec } from "./helpers.js";

let root: string;
// RADFLEET_BACKEND (set for the suite's wasm pass) would override --backend in every trainer.
const NO_ENV_BACKEND = { RADFLEET_BACKEND: "" };
let specPath: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "radfleet-e2e-"));
  const data = join(root, "data");
  await synthData(data);
  specPath = join(root, "spec.yaml");
  await writeSpec(specPath, data, ["checkpoint: { interval: 4, keep: 2 }"], 16);
}, 120_000);

describe("radfleet run, two workers", () => {
  let cleanDir: string;

  it("trains, commits checkpoints, evaluates, keeps replicas identical and writes the adapter", async () => {
    cleanDir = join(root, "clean");
    const r = await radfleet(["run", specPath, "--run-dir", cleanDir, "--quiet"]).done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/fully accurate/);
    const p = await progress(cleanDir);
    // Every step has its line, in order, however quick the steps.
    expect(p.map((x) => x.step)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(p.at(-1)!.loss).toBeLessThan(p[0].loss);
    // Retention keeps the last two committed checkpoints (steps 12 and 16).
    expect((await readdir(join(cleanDir, "checkpoints"))).sort()).toEqual([
      "step-000000012",
      "step-000000016",
    ]);
    const report = JSON.parse(await readFile(join(cleanDir, "eval", "final", "report.json"), "utf8"));
    expect(report.count).toBe(4);
    expect(existsSync(join(cleanDir, "adapter", "adapter_model.safetensors"))).toBe(true);
    const logs = await workerLogs(cleanDir);
    expect(logs).not.toMatch(/diverged/);
    expect(logs).not.toMatch(/generation_lost/); // one generation from start to end
    expect(logs.match(/"event":"checkpoint_committed"/g)).toHaveLength(4); // steps 4, 8, 12 and 16, by rank 0
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
    expect((await progress(dir)).at(-1)!.step).toBe(16);
    const logs = await workerLogs(dir);
    expect(logs).toMatch(/"event":"generation_lost"/);
    // Both the survivor and the replacement resume from the same committed checkpoint.
    const restored = [...logs.matchAll(/"event":"checkpoint_restored"[^\n]*"step":(\d+)/g)].map((m) =>
      Number(m[1]),
    );
    expect(restored).toHaveLength(2);
    expect(restored[0]).toBe(restored[1]);
    expect(restored[0]).toBeGreaterThanOrEqual(4);
    const clean = await readFile(join(cleanDir, "adapter", "adapter_model.safetensors"));
    const recovered = await readFile(join(dir, "adapter", "adapter_model.safetensors"));
    expect(recovered.equals(clean)).toBe(true);
  }, 300_000);
});

describe("radfleet run refuses what no restart can fix", () => {
  it("a spec the shipped base contradicts fails once, with the reason, without restarts", async () => {
    const spec = join(root, "bad-size.yaml");
    await writeFile(spec, `data: { path: ${join(root, "data")}, imageSize: 32 }\ntraining: { steps: 2 }\n`);
    const dir = join(root, "bad-size");
    const r = await radfleet(["run", spec, "--run-dir", dir, "--quiet"]).done;
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/failed permanently/);
    expect(await workerLogs(dir)).toMatch(
      /spec.data.imageSize is 32 but the model's vision tower takes 64x64 images/,
    );
    expect(r.out).not.toMatch(/restarting/);
  }, 120_000);
});

describe("a failed checkpoint write", () => {
  it("is reported, leaves the last committed checkpoint intact, and training continues", async () => {
    const dir = join(root, "write-fails");
    // A regular file where the step-8 checkpoint directory must go makes that write fail for real.
    await mkdir(join(dir, "checkpoints"), { recursive: true });
    await writeFile(join(dir, "checkpoints", "step-000000008"), "in the way");
    const r = await radfleet(["run", specPath, "--run-dir", dir, "--quiet"]).done;
    expect(r.code, r.out).toBe(0);
    const logs = await workerLogs(dir);
    expect(logs).toMatch(/"event":"checkpoint_failed"[^\n]*"step":8/);
    expect(logs).toMatch(/"event":"checkpoint_abandoned"[^\n]*"step":8/);
    expect(logs).not.toMatch(/generation_lost/); // the other rank was released, not timed out
    const committed = [...logs.matchAll(/"event":"checkpoint_committed"[^\n]*"step":(\d+)/g)].map((m) =>
      Number(m[1]),
    );
    expect(committed).toEqual([4, 12, 16]);
    expect((await progress(dir)).at(-1)!.step).toBe(16);
  }, 300_000);
});

describe("gradient accumulation", () => {
  it("takes gradAccum micro-batches from the shard per optimizer step and keeps replicas identical (gradients all-reduced in 4 KiB buckets)", async () => {
    const spec = join(root, "accum.yaml");
    await writeSpec(spec, join(root, "data"), [
      "training: { steps: 3, batchSize: 2, gradAccum: 2, learningRate: 0.003, verifyEvery: 1 }",
      "checkpoint: { interval: 3 }",
      // Small buckets: the gradient buffer is all-reduced in many pieces.
      "collective: { timeoutSeconds: 5, bucketBytes: 4096 }",
    ]);
    const dir = join(root, "accum");
    const r = await radfleet(["run", spec, "--run-dir", dir, "--quiet"]).done;
    expect(r.code, r.out).toBe(0);
    const state = JSON.parse(
      await readFile(join(dir, "checkpoints", "step-000000003", "trainer_state.json"), "utf8"),
    );
    // 3 steps × 2 micro-batches × 2 ranks × 2 examples, all within the first epoch.
    expect(state.sampler).toMatchObject({ epoch: 0, consumed: 24 });
    const logs = await workerLogs(dir);
    expect(logs).not.toMatch(/diverged|nonfinite/);
  }, 120_000);
});

describe("radfleet run --backend", () => {
  it("overrides spec.backend for every trainer; a value that is not a backend is refused", async () => {
    const dir = join(root, "backend-cpu");
    const r = await radfleet(
      ["run", specPath, "--run-dir", dir, "--steps", "1", "--backend", "cpu", "--quiet"],
      NO_ENV_BACKEND,
    ).done;
    expect(r.code, r.out).toBe(0);
    expect((await workerLogs(dir)).match(/"event":"backend_selected"[^\n]*"backend":"cpu"/g)).toHaveLength(2);
    expect(await readFile(join(dir, "spec.yaml"), "utf8")).toMatch(/^backend: cpu$/m);
    const bad = await radfleet(["run", specPath, "--backend", "gpu"]).done;
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--backend: expected one of auto, tensorflow, wasm, cpu, got "gpu"/);

    // Started again in the same run directory on another engine: the checkpoint says which engine
    // wrote it, and the trainers say the resumed run is correct but no longer bit-identical.
    const again = await radfleet(
      ["run", specPath, "--run-dir", dir, "--steps", "1", "--backend", "wasm", "--quiet"],
      NO_ENV_BACKEND,
    ).done;
    expect(again.code, again.out).toBe(0);
    const logs = await workerLogs(dir);
    expect(logs).toMatch(
      /"event":"engine_changed"[^\n]*"checkpointEngine":"cpu [\d.]+, 1 thread","engine":"wasm [\d.]+, 1 thread"/,
    );
  }, 180_000);
});

// End to end: `radfleet run` with two real trainer processes, a real coordinator on loopback and
// a synthetic data set on disk; then the same run with a trainer SIGKILLed mid-run.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/ports.js";

const BIN = join(import.meta.dirname, "../../bin/radfleet.js");

function radfleet(args: string[]): { done: Promise<{ code: number | null; out: string }>; pid: number } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 280_000);
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
  return { done, pid: child.pid! };
}

let root: string;
let specPath: string;

async function progress(runDir: string): Promise<Array<{ step: number; loss: number }>> {
  if (!existsSync(join(runDir, "progress.jsonl"))) return [];
  return (await readFile(join(runDir, "progress.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss: number });
}

async function workerLogs(runDir: string): Promise<string> {
  const a = await readFile(join(runDir, "logs", "worker-0.log"), "utf8");
  const b = await readFile(join(runDir, "logs", "worker-1.log"), "utf8");
  return a + b;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "radfleet-e2e-"));
  const data = join(root, "data");
  const synth = radfleet(["data", "synth", "--out", data, "--studies", "48", "--seed", "3", "--size", "64"]);
  expect((await synth.done).code).toBe(0);
  specPath = join(root, "spec.yaml");
  await writeFile(
    specPath,
    [
      `data: { path: ${data}, imageSize: 32, maxReportTokens: 32 }`,
      "model: { lora: { r: 4, dropout: 0.1 } }",
      "training: { steps: 10, batchSize: 2, learningRate: 0.003, warmupSteps: 2, verifyEvery: 2 }",
      "checkpoint: { interval: 4, keep: 2 }",
      "evaluation: { maxSamples: 4, generation: { maxNewTokens: 12 } }",
      // min = max = 2: a lost worker is waited for, so the recovered run repeats the uninterrupted one.
      "replicas: { min: 2, max: 2 }",
      "rendezvous: { lastCallSeconds: 0.2, heartbeatIntervalSeconds: 0.5, heartbeatTimeoutSeconds: 5 }",
      "restartPolicy: { backoffLimit: 2, initialBackoffSeconds: 0.2 }",
      "collective: { timeoutSeconds: 5 }",
    ].join("\n") + "\n",
  );
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

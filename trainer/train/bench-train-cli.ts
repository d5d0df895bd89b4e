// `radfleet bench train`: data-parallel training throughput on this machine. Runs the same
// short run with 1 worker and with N workers (real processes, real coordinator and all-reduce),
// and prints samples/s, scaling efficiency, the step-time split, model FLOPs utilisation against a
// matmul peak measured in the same run, and each trainer's peak resident memory.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { intFlag, parseCommandLine, usageError } from "../../common/cli.js";

const BIN = fileURLToPath(new URL("../../bin/radfleet.js", import.meta.url));

function radfleet(args: string[], quiet = true): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!quiet) process.stdout.write(d);
    });
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, out }));
  });
}

interface StepLog {
  event: string;
  step?: number;
  seconds?: number;
  phasesMs?: { data: number; forwardBackward: number; allreduce: number; optimizer: number };
  totalParameters?: number;
  sequenceLength?: number;
  maxRssBytes?: number;
}

export interface WorkerCountResult {
  workers: number;
  samplesPerSecond: number;
  stepSeconds: number;
  phases: { data: number; forwardBackward: number; allreduce: number; optimizer: number };
  peakRssBytes: number;
  totalParameters: number;
  sequenceLength: number;
}

async function logsOf(runDir: string, workers: number): Promise<StepLog[][]> {
  const out: StepLog[][] = [];
  for (let i = 0; i < workers; i++) {
    const text = await readFile(join(runDir, "logs", `worker-${i}.log`), "utf8");
    out.push(
      text
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as StepLog),
    );
  }
  return out;
}

/** Mean over the steps after `warmup`, from rank-agnostic worker logs. */
function summarise(workers: number, batch: number, logs: StepLog[][], warmup: number): WorkerCountResult {
  const steps = logs.flatMap((l) => l.filter((e) => e.event === "step" && (e.step ?? 0) > warmup));
  if (steps.length === 0) throw new Error("no timed steps in the worker logs");
  const mean = (f: (e: StepLog) => number) => steps.reduce((a, e) => a + f(e), 0) / steps.length;
  const stepSeconds = mean((e) => e.seconds ?? 0);
  const ready = logs.flat().find((e) => e.event === "model_ready")!;
  return {
    workers,
    stepSeconds,
    samplesPerSecond: (workers * batch) / stepSeconds,
    phases: {
      data: mean((e) => e.phasesMs!.data) / 1000,
      forwardBackward: mean((e) => e.phasesMs!.forwardBackward) / 1000,
      allreduce: mean((e) => e.phasesMs!.allreduce) / 1000,
      optimizer: mean((e) => e.phasesMs!.optimizer) / 1000,
    },
    peakRssBytes: Math.max(...logs.flat().map((e) => e.maxRssBytes ?? 0)),
    totalParameters: ready.totalParameters ?? 0,
    sequenceLength: ready.sequenceLength ?? 0,
  };
}

/**
 * float32 matmul throughput of the tensor engine on this machine (FLOP/s, one thread like a
 * trainer): the best of a few shapes, including the tiny model's own.
 */
async function matmulPeak(): Promise<{ flops: number; backend: string }> {
  const { initBackend } = await import("../backend.js");
  const tf = await import("@tensorflow/tfjs");
  const backend = await initBackend("auto");
  let best = 0;
  for (const [m, k, n] of [
    [512, 512, 512],
    [1024, 1024, 1024],
    [660, 128, 256],
  ]) {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    const warm = tf.matMul(a, b);
    warm.dataSync();
    warm.dispose();
    const reps = 10;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }
    best = Math.max(best, (2 * m * k * n * reps) / ((performance.now() - t0) / 1000));
    tf.dispose([a, b]);
  }
  return { flops: best, backend: backend.name };
}

const USAGE = "usage: radfleet bench train [--workers N] [--steps N] [--batch N] [--json] [--keep]";

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      workers: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      json: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let workers: number, steps: number, batch: number;
  try {
    workers = intFlag("workers", values.workers, 2);
    steps = intFlag("steps", values.steps, 30, 6);
    batch = intFlag("batch", values.batch, 4);
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const root = await mkdtemp(join(tmpdir(), "radfleet-bench-train-"));
  const data = join(root, "data");
  const gen = await radfleet([
    "data",
    "synth",
    "--out",
    data,
    "--studies",
    "200",
    "--seed",
    "5",
    "--size",
    "64",
  ]);
  if (gen.code !== 0) throw new Error(`data synth failed: ${gen.out}`);
  const warmup = Math.min(5, Math.floor(steps / 3));
  const results: WorkerCountResult[] = [];
  for (const w of [...new Set([1, workers])]) {
    const spec = join(root, `spec-${w}.yaml`);
    await writeFile(
      spec,
      [
        `data: { path: ${data}, imageSize: 64, maxReportTokens: 96 }`,
        `training: { steps: ${steps}, batchSize: ${batch}, verifyEvery: 0 }`,
        `checkpoint: { interval: ${steps + 1} }`,
        "evaluation: { maxSamples: 1, generation: { maxNewTokens: 1 } }",
        `replicas: { min: ${w}, max: ${w} }`,
        "rendezvous: { lastCallSeconds: 1 }",
      ].join("\n") + "\n",
    );
    const runDir = join(root, `run-${w}`);
    const r = await radfleet(["run", spec, "--run-dir", runDir, "--quiet"]);
    if (r.code !== 0) throw new Error(`the ${w}-worker run failed: ${r.out}`);
    results.push(summarise(w, batch, await logsOf(runDir, w), warmup));
  }
  const peak = await matmulPeak();
  const base = results[0];
  const rows = results.map((r) => {
    // Training FLOPs per sample ≈ 6 · parameters · tokens (forward 2, backward 4; the frozen base
    // still propagates gradients to the adapters below it).
    const flopsPerWorker = (6 * r.totalParameters * r.sequenceLength * batch) / r.stepSeconds;
    return {
      ...r,
      scalingEfficiency: r.samplesPerSecond / (base.samplesPerSecond * r.workers),
      allreduceShare: r.phases.allreduce / r.stepSeconds,
      mfu: flopsPerWorker / peak.flops,
    };
  });
  if (values.json) {
    console.log(
      JSON.stringify({ matmulPeakFlops: peak.flops, backend: peak.backend, results: rows }, null, 2),
    );
  } else {
    console.log(
      `train benchmark: tiny preset, NF4 + LoRA, batch ${batch}/worker, ${steps} steps (first ${warmup} not timed), backend ${peak.backend}`,
    );
    console.log(
      `matmul peak (best of 512³, 1024³, 660×128×256; float32, one thread): ${(peak.flops / 1e9).toFixed(2)} GFLOP/s`,
    );
    for (const r of rows) {
      console.log(
        `  ${r.workers} worker(s): ${r.samplesPerSecond.toFixed(2)} samples/s, step ${(r.stepSeconds * 1000).toFixed(0)} ms ` +
          `(data ${(r.phases.data * 1000).toFixed(0)}, fwd+bwd ${(r.phases.forwardBackward * 1000).toFixed(0)}, ` +
          `all-reduce ${(r.phases.allreduce * 1000).toFixed(0)}, optimizer ${(r.phases.optimizer * 1000).toFixed(0)} ms), ` +
          `scaling efficiency ${r.scalingEfficiency.toFixed(2)}, all-reduce share ${(100 * r.allreduceShare).toFixed(1)}%, ` +
          `MFU ${(100 * r.mfu).toFixed(1)}%, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
      );
    }
  }
  if (!values.keep && existsSync(root)) await rm(root, { recursive: true, force: true });
  return 0;
}

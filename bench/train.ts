// `radfleet bench train`: data-parallel training throughput on this machine. Runs the same
// short run with 1 worker and with N workers (real processes, real coordinator and all-reduce),
// and prints samples/s, scaling efficiency, the step-time split, model FLOPs utilisation against a
// matmul peak measured in the same run, and each trainer's peak resident memory. With --backends it
// does so for each tensor backend in one run, so their figures share the machine's state.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { choiceFlag, intFlag, parseCommandLine, usageError } from "../common/cli.js";

const BIN = fileURLToPath(new URL("../bin/radfleet.js", import.meta.url));

function radfleet(
  args: string[],
  quiet = true,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
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
  backend?: string;
  threads?: number;
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
 * float32 matmul throughput of `backend` with `threads` threads per op (what one trainer of a run
 * with that many workers gets), measured in a child process of its own so its thread pool is sized
 * as the trainer's: the best of a few shapes, including the models' own.
 */
async function matmulPeak(backend: string, threads: number): Promise<number> {
  const script = `import { initBackend, matmulGflops } from ${JSON.stringify(fileURLToPath(new URL("../trainer/backend/index.ts", import.meta.url)))};
await initBackend(${JSON.stringify(backend)});
let best = 0;
for (const [m, k, n] of [[512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [660, 128, 256], [1320, 512, 1408]])
  best = Math.max(best, matmulGflops(m, k, n, m >= 2048 ? 3 : 10) * 1e9);
console.log(best);`;
  const env = { ...process.env, RADFLEET_BACKEND: backend, TF_NUM_INTRAOP_THREADS: String(threads) };
  const r = await exec(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], env);
  if (r.code !== 0) throw new Error(`matmul peak on ${backend}: ${r.out}`);
  return Number(r.out.trim().split("\n").pop());
}

/**
 * The machine's anchor: OpenBLAS sgemm through numpy with every core. OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE are unset for this command alone: set on some machines here for older OpenBLAS
 * builds, they slow a current one. Undefined when numpy is absent.
 */
async function numpyAnchor(): Promise<{ gflops: number; kernel: string } | undefined> {
  const script = [
    "import numpy as np, time, json",
    "best = 0",
    "for n in (1024, 2048):",
    "    a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32); a @ b",
    "    t = time.perf_counter()",
    "    for _ in range(5): a @ b",
    "    best = max(best, 2 * n ** 3 * 5 / (time.perf_counter() - t) / 1e9)",
    "kernel = 'unknown'",
    "try:",
    "    from threadpoolctl import threadpool_info",
    "    blas = [i for i in threadpool_info() if i.get('user_api') == 'blas']",
    "    kernel = ', '.join(f\"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} ({i.get('num_threads')} threads)\" for i in blas) or kernel",
    "except ImportError:",
    "    pass",
    "print(json.dumps({'gflops': best, 'kernel': kernel}))",
  ].join("\n");
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  for (const python of ["python3", "python"]) {
    const r = await exec(python, ["-c", script], env).catch(() => undefined);
    if (r?.code === 0)
      return JSON.parse(r.out.trim().split("\n").pop()!) as { gflops: number; kernel: string };
  }
  return undefined;
}

function exec(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, out }));
  });
}

const USAGE =
  "usage: radfleet bench train [--backends tensorflow,wasm] [--preset tiny|small] [--workers N] [--steps N] [--batch N] [--image-size N] [--tokens N] [--json] [--keep]";

const BACKENDS = ["tensorflow", "wasm", "cpu"] as const;
type Backend = (typeof BACKENDS)[number];

export interface BackendResult {
  backend: string;
  /** Samples/s by worker count. */
  samplesPerSecond: Record<string, number>;
  /** Model FLOPs utilisation by worker count: achieved FLOP/s over the workers' matmul peak. */
  mfu: Record<string, number>;
  /** This backend's matmul peak with one trainer's threads (all of its cores), GFLOP/s. */
  matmulPeakGflops: number;
  /** The peak one worker has at each worker count (threads are split between workers), GFLOP/s. */
  workerPeakGflops: Record<string, number>;
  threadsPerWorker: Record<string, number>;
  results: (WorkerCountResult & {
    /** Against 1 worker with all of its cores. */
    scalingEfficiency: number;
    /** Against 1 worker with the same threads per worker: what data parallelism itself costs. */
    scalingAtEqualThreads: number;
    allreduceShare: number;
    mfu: number;
  })[];
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      backends: { type: "string" },
      preset: { type: "string" },
      workers: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      "image-size": { type: "string" },
      tokens: { type: "string" },
      json: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let workers: number, steps: number, batch: number, imageSize: number, tokens: number;
  let preset: "tiny" | "small";
  let backends: (Backend | "auto")[];
  try {
    preset = choiceFlag("preset", values.preset, ["tiny", "small"] as const, "tiny");
    workers = intFlag("workers", values.workers, 2);
    steps = intFlag("steps", values.steps, preset === "small" ? 10 : 30, 6);
    batch = intFlag("batch", values.batch, 4);
    imageSize = intFlag("image-size", values["image-size"], preset === "small" ? 128 : 64, 16);
    tokens = intFlag("tokens", values.tokens, 96, 8);
    backends = (values.backends ?? "auto").split(",").map((b) => {
      if (b === "auto") return "auto";
      if (!(BACKENDS as readonly string[]).includes(b))
        throw new Error(`--backends: expected a list of tensorflow, wasm, cpu; got ${JSON.stringify(b)}`);
      return b as Backend;
    });
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
    String(imageSize),
  ]);
  if (gen.code !== 0) throw new Error(`data synth failed: ${gen.out}`);
  const warmup = Math.min(5, Math.floor(steps / 3));
  const cores = availableParallelism();
  const counts = [...new Set([1, workers])];
  const out: BackendResult[] = [];
  for (const requested of backends) {
    const results: WorkerCountResult[] = [];
    let backend: string = requested;
    // Threads each worker's engine used, as its trainer logged them (the launcher's split, or what
    // the environment or the spec set).
    const threadsPerWorker: Record<string, number> = {};
    // One run of `w` workers; extraEnv can pin the threads (RADFLEET_CPU_LIMIT).
    const runOnce = async (w: number, tag: string, extraEnv: Record<string, string> = {}) => {
      const spec = join(root, `spec-${requested}-${tag}.yaml`);
      await writeFile(
        spec,
        [
          `backend: ${requested}`,
          // The shipped tiny base takes 64 px images; other sizes and the small preset start from a seed.
          `model: { preset: ${preset}, init: ${preset === "tiny" && imageSize === 64 ? "pretrained" : "random"} }`,
          `data: { path: ${data}, imageSize: ${imageSize}, maxReportTokens: ${tokens} }`,
          `training: { steps: ${steps}, batchSize: ${batch}, verifyEvery: 0 }`,
          `checkpoint: { interval: ${steps + 1} }`,
          "evaluation: { maxSamples: 1, generation: { maxNewTokens: 1 } }",
          `replicas: { min: ${w}, max: ${w} }`,
          "rendezvous: { lastCallSeconds: 1 }",
        ].join("\n") + "\n",
      );
      const runDir = join(root, `run-${requested}-${tag}`);
      // RADFLEET_BACKEND would override the spec's backend in every trainer: each run names its own.
      const env = {
        ...process.env,
        RADFLEET_BACKEND: requested === "auto" ? (process.env.RADFLEET_BACKEND ?? "") : requested,
        ...extraEnv,
      };
      const r = await radfleet(["run", spec, "--run-dir", runDir, "--quiet"], true, env);
      if (r.code !== 0) throw new Error(`the ${w}-worker run on ${requested} failed: ${r.out}`);
      const logs = await logsOf(runDir, w);
      const selected = logs.flat().find((e) => e.event === "backend_selected");
      return {
        result: summarise(w, batch, logs, warmup),
        backend: selected?.backend,
        threads: selected?.threads ?? 1,
      };
    };
    for (const w of counts) {
      const one = await runOnce(w, String(w));
      backend = one.backend ?? backend;
      threadsPerWorker[String(w)] = one.threads;
      results.push(one.result);
    }
    // Scaling against 1 worker with all the cores mixes two things: how well one process uses more
    // threads, and what data parallelism costs. So each worker count is also compared with one
    // worker on the same threads per worker (an extra 1-worker run where those differ).
    const sameThreadsBase: Record<string, number> = {};
    for (const w of counts) {
      const t = threadsPerWorker[String(w)];
      if (t === threadsPerWorker["1"]) sameThreadsBase[String(w)] = results[0].samplesPerSecond;
      else {
        const pinned = await runOnce(1, `1-at-${t}-threads`, { RADFLEET_CPU_LIMIT: String(t) });
        sameThreadsBase[String(w)] = pinned.result.samplesPerSecond;
      }
    }
    const peaks: Record<string, number> = {};
    for (const t of new Set(Object.values(threadsPerWorker))) peaks[t] = await matmulPeak(backend, t);
    const base = results[0];
    const rows = results.map((r) => {
      // Training FLOPs per sample ≈ 6 · parameters · tokens (forward 2, backward 4; the frozen base
      // still propagates gradients to the adapters below it).
      const flopsPerWorker = (6 * r.totalParameters * r.sequenceLength * batch) / r.stepSeconds;
      return {
        ...r,
        scalingEfficiency: r.samplesPerSecond / (base.samplesPerSecond * r.workers),
        scalingAtEqualThreads: r.samplesPerSecond / (sameThreadsBase[String(r.workers)] * r.workers),
        allreduceShare: r.phases.allreduce / r.stepSeconds,
        mfu: flopsPerWorker / peaks[threadsPerWorker[String(r.workers)]],
      };
    });
    out.push({
      backend,
      samplesPerSecond: Object.fromEntries(rows.map((r) => [String(r.workers), r.samplesPerSecond])),
      mfu: Object.fromEntries(rows.map((r) => [String(r.workers), r.mfu])),
      matmulPeakGflops: peaks[threadsPerWorker["1"]] / 1e9,
      workerPeakGflops: Object.fromEntries(
        counts.map((w) => [String(w), peaks[threadsPerWorker[String(w)]] / 1e9]),
      ),
      threadsPerWorker,
      results: rows,
    });
  }
  const anchor = await numpyAnchor();
  const anchorGflops = anchor?.gflops ?? Math.max(...out.map((b) => b.matmulPeakGflops));
  const ratios =
    out.length > 1
      ? Object.fromEntries(
          out
            .slice(1)
            .map((b) => [
              `${out[0].backend}/${b.backend}`,
              out[0].samplesPerSecond["1"] / b.samplesPerSecond["1"],
            ]),
        )
      : {};
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          preset,
          batch,
          imageSize,
          tokens,
          steps,
          cores,
          anchor: anchor
            ? { source: "numpy sgemm (OpenBLAS)", gflops: anchor.gflops, kernel: anchor.kernel }
            : { source: "best backend matmul (numpy absent)", gflops: anchorGflops },
          speedup1Worker: ratios,
          backends: out,
        },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `train benchmark: ${preset} preset, NF4 + LoRA, batch ${batch}/worker, ${imageSize} px, ≤${tokens} report tokens, ${steps} steps (first ${warmup} not timed), ${cores} cores`,
    );
    console.log(
      anchor
        ? `anchor: numpy sgemm ${anchor.gflops.toFixed(1)} GFLOP/s (${anchor.kernel})`
        : `anchor: numpy absent; best backend matmul ${anchorGflops.toFixed(1)} GFLOP/s`,
    );
    for (const b of out) {
      console.log(
        `${b.backend}: matmul peak ${b.matmulPeakGflops.toFixed(1)} GFLOP/s with ${b.threadsPerWorker["1"]} thread(s) (${((100 * b.matmulPeakGflops) / anchorGflops).toFixed(0)}% of the anchor)`,
      );
      for (const r of b.results) {
        console.log(
          `  ${r.workers} worker(s) × ${b.threadsPerWorker[String(r.workers)]} thread(s): ${r.samplesPerSecond.toFixed(2)} samples/s, step ${(r.stepSeconds * 1000).toFixed(0)} ms ` +
            `(data ${(r.phases.data * 1000).toFixed(0)}, fwd+bwd ${(r.phases.forwardBackward * 1000).toFixed(0)}, ` +
            `all-reduce ${(r.phases.allreduce * 1000).toFixed(0)}, optimizer ${(r.phases.optimizer * 1000).toFixed(0)} ms), ` +
            `scaling efficiency ${r.scalingEfficiency.toFixed(2)} (${r.scalingAtEqualThreads.toFixed(2)} at equal threads), all-reduce share ${(100 * r.allreduceShare).toFixed(1)}%, ` +
            `MFU ${(100 * r.mfu).toFixed(1)}% of ${b.workerPeakGflops[String(r.workers)].toFixed(1)} GFLOP/s, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
        );
      }
    }
    for (const [k, v] of Object.entries(ratios))
      console.log(`speed-up ${k} (1 worker, samples/s): ${v.toFixed(2)}×`);
  }
  if (!values.keep && existsSync(root)) await rm(root, { recursive: true, force: true });
  return 0;
}

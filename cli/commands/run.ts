// `radfleet run [SPEC]`: a whole training run on this machine. Starts the run's coordinator,
// spawns one trainer process per replica (restarting lost ones with back-off), shows live
// progress, serves /metrics, and leaves a run directory:
//   spec.yaml  run-state.json  progress.jsonl  logs/worker-N.log  checkpoints/  eval/  adapter/
// Without SPEC it runs the built-in demo: a synthetic data set (generated when absent), the tiny
// base in NF4, a multitask QLoRA run with two workers.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { choiceFlag, intFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { createLogger } from "../../common/log.js";
import { collectProcessMetrics, newRegistry, serveMetrics } from "../../common/metrics.js";
import { loadRunSpecFile, parseRunSpec, resolvedSpecYaml, type RunSpec } from "../../common/spec/index.js";
import {
  CPU_LIMIT_ENV,
  EXIT_PERMANENT_FAILURE,
  localCpuShare,
  trainerEnv,
} from "../../common/trainer-env.js";
import { coordinatorOptionsFromSpec, startCoordinator } from "../../controller/coordinator/index.js";
import { LocalLauncher } from "../../controller/launcher/index.js";
import { ProgressDisplay } from "../run-progress.js";

const BIN = fileURLToPath(new URL("../../bin/radfleet.js", import.meta.url));

const USAGE = `usage: radfleet run [SPEC.yaml] [options]

Runs a training run locally: a coordinator and one trainer process per replica.
Without SPEC, runs the built-in demo (synthetic data, tiny base in NF4, 2 workers).

options:
  --name NAME            run name (default: the manifest's metadata.name, or "demo")
  --runs-dir DIR         parent of the run directory (default: runs)
  --run-dir DIR          exact run directory (default: <runs-dir>/<name>-<timestamp>)
  --nats URL             publish events and keep run state on this NATS server (overrides spec.nats.url)
  --metrics-port PORT    /metrics of the controller; trainers use PORT+1.. (default 0: free ports)
  --steps N              override spec.training.steps
  --workers N            override spec.replicas.max (and min when larger)
  --backend B            auto | tensorflow | wasm | cpu: override spec.backend (trainers also honour
                         RADFLEET_BACKEND, which wins over both)
  --quiet                no live progress, only the summary`;

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
}

/** Runs `radfleet <args>` as a child process, passing its output through. */
async function radfleet(args: string[], signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "inherit", "inherit"],
      signal,
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`radfleet ${args.join(" ")} exited with ${code}`)),
    );
  });
}

async function ensureSyntheticData(
  spec: RunSpec,
  signal: AbortSignal,
  say: (s: string) => void,
): Promise<void> {
  if (spec.data.format !== "synthetic") return;
  if (
    existsSync(join(spec.data.path, "mimic-cxr-2.0.0-split.csv")) ||
    existsSync(join(spec.data.path, "mimic-cxr-2.0.0-split.csv.gz"))
  )
    return;
  const s = spec.data.synthetic;
  say(
    `generating a synthetic data set in ${spec.data.path} (${s.studies} studies, seed ${s.seed}, ${s.difficulty})`,
  );
  await radfleet(
    [
      "data",
      "synth",
      "--out",
      spec.data.path,
      "--studies",
      String(s.studies),
      "--seed",
      String(s.seed),
      "--difficulty",
      s.difficulty,
      "--size",
      String(Math.max(128, spec.data.imageSize)),
    ],
    signal,
  );
}

interface ReportJson {
  count: number;
  uncertainPolicy: string;
  ngram: { rougeL_rouge_score: { fmeasure: number }; bleu_coco: { bleu4: number } };
  clinical: { micro14: { f1: number }; micro5: { f1: number } };
  audit: Record<"fullyAccurate" | "hallucination" | "omission", { value: number; ci95: [number, number] }>;
  head?: { macroF1: number; macroAuroc?: number | null };
  /** absent in reports written before radfleet counted distinct and repeating reports */
  diversity?: {
    reports: number;
    distinct: number;
    distinctRate: number;
    repeating: number;
    referenceRepeating: number;
  };
  selfConsistency?: { consistent: { value: number; ci95: [number, number] } };
}

/**
 * The tensor engines the workers ran on, from the backend_selected line each trainer logs (the
 * controller never loads TensorFlow.js itself): e.g. "tensorflow (libtensorflow 2.21.0, 1 thread per worker)".
 */
export async function workerBackends(logDir: string): Promise<string[]> {
  const seen = new Set<string>();
  const files = (await readdir(logDir).catch(() => [] as string[])).filter((f) => f.endsWith(".log")).sort();
  for (const f of files) {
    let last: { backend?: string; version?: string; threads?: number } | undefined;
    for (const line of (await readFile(join(logDir, f), "utf8")).split("\n")) {
      if (!line.includes('"backend_selected"')) continue;
      try {
        last = JSON.parse(line) as typeof last;
      } catch {
        // a line cut by a crash
      }
    }
    if (!last?.backend) continue;
    const threads = `${last.threads ?? 1} thread${last.threads === 1 ? "" : "s"} per worker`;
    seen.add(
      last.backend === "tensorflow"
        ? `tensorflow (libtensorflow ${last.version}, ${threads})`
        : `${last.backend} (${last.version ?? "?"}, ${threads})`,
    );
  }
  return [...seen];
}

export function summaryTable(r: ReportJson): string {
  const pct = (e: { value: number; ci95: [number, number] }) =>
    `${(100 * e.value).toFixed(1)}%  [${(100 * e.ci95[0]).toFixed(1)}, ${(100 * e.ci95[1]).toFixed(1)}]`;
  const rows: Array<[string, string]> = [
    ["reports evaluated", String(r.count)],
    ["ROUGE-L F (rouge-score)", r.ngram.rougeL_rouge_score.fmeasure.toFixed(4)],
    ["BLEU-4 (pycocoevalcap)", r.ngram.bleu_coco.bleu4.toFixed(4)],
    [`clinical F1 micro-14 (uncertain ${r.uncertainPolicy})`, r.clinical.micro14.f1.toFixed(4)],
    ["clinical F1 micro-5", r.clinical.micro5.f1.toFixed(4)],
    ["fully accurate  [95% CI]", pct(r.audit.fullyAccurate)],
    ["hallucination   [95% CI]", pct(r.audit.hallucination)],
    ["omission        [95% CI]", pct(r.audit.omission)],
    ["head macro F1", r.head ? r.head.macroF1.toFixed(4) : "—"],
    ["head macro AUROC", r.head?.macroAuroc != null ? r.head.macroAuroc.toFixed(4) : "—"],
    ...(r.diversity
      ? ([
          [
            "distinct reports",
            `${r.diversity.distinct} of ${r.diversity.reports} (${(100 * r.diversity.distinctRate).toFixed(0)}%)`,
          ],
          [
            "reports repeating a sentence",
            `${r.diversity.repeating} of ${r.diversity.reports} (references: ${r.diversity.referenceRepeating})`,
          ],
        ] as Array<[string, string]>)
      : []),
    ...(r.selfConsistency
      ? [["consistent with own table [95% CI]", pct(r.selfConsistency.consistent)] as [string, string]]
      : []),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      name: { type: "string" },
      "runs-dir": { type: "string", default: "runs" },
      "run-dir": { type: "string" },
      nats: { type: "string" },
      backend: { type: "string" },
      "metrics-port": { type: "string" },
      steps: { type: "string" },
      workers: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
    USAGE,
    { positionals: true },
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    return usageError(`expected at most one spec, got ${positionals.length}`, USAGE);
  let steps: number | undefined, workers: number | undefined, metricsPort: number;
  let backend: RunSpec["backend"] | undefined;
  try {
    backend =
      values.backend === undefined
        ? undefined
        : choiceFlag("backend", values.backend, ["auto", "tensorflow", "wasm", "cpu"] as const, "auto");
    steps = intFlag("steps", values.steps, undefined);
    workers = intFlag("workers", values.workers, undefined);
    metricsPort = intFlag("metrics-port", values["metrics-port"], 0, 0);
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const loaded = positionals[0] ? await loadRunSpecFile(positionals[0]) : parseRunSpec({});
  const spec = loaded.spec;
  if (steps !== undefined) {
    spec.training.steps = steps;
    spec.training.epochs = undefined;
  }
  if (workers !== undefined) {
    spec.replicas.max = workers;
    spec.replicas.min = Math.min(spec.replicas.min, workers);
  }
  if (values.nats) spec.nats.url = values.nats;
  if (backend) spec.backend = backend;
  const name = values.name ?? loaded.name ?? "demo";
  const runDir = resolve(values["run-dir"] ?? join(values["runs-dir"]!, `${name}-${timestamp()}`));
  await mkdir(join(runDir, "logs"), { recursive: true });
  const specPath = join(runDir, "spec.yaml");
  await writeFile(specPath, resolvedSpecYaml(spec));

  const log = createLogger({
    context: { component: "controller", runId: name },
    sink: { write: (line) => void appendFile(join(runDir, "logs", "controller.log"), line) },
  });
  const display = new ProgressDisplay(process.stdout);
  const say = (s: string) => (values.quiet ? undefined : display.note(s));
  const ac = new AbortController();
  let interrupted = false;
  let killNow = (): void => {};
  const onSigint = () => {
    if (interrupted) {
      say("stopping now: workers killed; the run resumes from its last committed checkpoint");
      killNow();
      return;
    }
    interrupted = true;
    say("stopping: the workers finish their step, write a final checkpoint and exit (Ctrl-C again: at once)");
    ac.abort();
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);

  try {
    say(`run ${name}: ${runDir}`);
    await ensureSyntheticData(spec, ac.signal, say);

    const registry = newRegistry({ run: name });
    collectProcessMetrics(registry);
    const token = randomBytes(24).toString("hex");
    const workerIds = Array.from({ length: spec.replicas.max }, (_, i) => `worker-${i}`);
    const coordinator = await startCoordinator({
      address: "127.0.0.1:0",
      registry,
      logger: log,
      ...coordinatorOptionsFromSpec(spec, { runId: name, token, allowedWorkerIds: workerIds }),
      // Started again in the same run directory, the run resumes from its last commit, NATS or not.
      stateFile: join(runDir, "run-state.json"),
    });
    const metrics = await serveMetrics(registry, metricsPort, "127.0.0.1");
    say(`coordinator ${coordinator.address}, metrics ${metrics.url}`);

    const launcher = new LocalLauncher({
      workers: spec.replicas.max,
      commandFor: (workerId, i) => ({
        command: process.execPath,
        args: [BIN, "trainer"],
        env: {
          ...trainerEnv({
            runId: name,
            workerId,
            coordinator: coordinator.address,
            token,
            specPath,
            runDir,
            metricsPort: metricsPort === 0 ? 0 : metricsPort + 1 + i,
            advertiseHost: "127.0.0.1",
          }),
          // The trainers share this machine's cores instead of each sizing its thread pool to all of them.
          [CPU_LIMIT_ENV]:
            process.env[CPU_LIMIT_ENV] || String(localCpuShare(spec.replicas.max, availableParallelism())),
        },
      }),
      logDir: join(runDir, "logs"),
      backoffLimit: spec.restartPolicy.backoffLimit,
      initialBackoffMs: spec.restartPolicy.initialBackoffSeconds * 1000,
      maxBackoffMs: spec.restartPolicy.maxBackoffSeconds * 1000,
      permanentFailureCode: EXIT_PERMANENT_FAILURE,
      log,
      onEvent: (e) => {
        // Pid files let operators (and the failure tests) find a worker process.
        if (e.type === "started") void writeFile(join(runDir, "logs", `${e.workerId}.pid`), `${e.pid}\n`);
        if (e.type === "restarting")
          say(
            `${e.workerId} lost; restarting in ${e.inMs} ms (restart ${e.restarts}/${spec.restartPolicy.backoffLimit})`,
          );
      },
    });
    killNow = () => launcher.killNow();
    await launcher.start(ac.signal);

    // Progress: what rank 0 reports to the coordinator, every report appended to progress.jsonl as
    // it arrives (a step is one line, even when steps are quicker than the display's refresh).
    let lastStep = -1;
    let lastEval: string | undefined;
    coordinator.run.onProgress((p) => {
      if (p.step === lastStep) return;
      lastStep = p.step;
      appendFileSync(
        join(runDir, "progress.jsonl"),
        JSON.stringify({ ...p, generation: coordinator.run.generation, restarts: launcher.restartCount }) +
          "\n",
      );
    });
    const pollOnce = () => {
      const p = coordinator.run.progress().sort((a, b) => b.atUnixMs - a.atUnixMs)[0];
      const ckpt = coordinator.run.latestCheckpoint();
      if (p && p.evaluation && Object.keys(p.evaluation).length) {
        const e = p.evaluation;
        lastEval = `ROUGE-L ${(e.rougeL_rouge_score_f ?? NaN).toFixed(3)} F1 ${(e.clinical_f1_micro_14 ?? NaN).toFixed(3)}`;
      }
      if (!values.quiet) {
        display.update({
          step: p?.step ?? 0,
          totalSteps: p?.totalSteps ?? spec.training.steps ?? 0,
          loss: p?.loss,
          lmLoss: p?.lmLoss,
          clsLoss: p?.clsLoss,
          samplesPerSecond: p?.samplesPerSecond,
          generation: coordinator.run.generation,
          worldSize: coordinator.run.members().length,
          restarts: launcher.restartCount,
          lastCheckpointStep: ckpt?.step,
          lastEval,
          phase: p?.phase ?? "starting",
        });
      }
    };
    const poll = setInterval(pollOnce, 500);

    const result = await launcher.done;
    clearInterval(poll);
    pollOnce(); // the display's last state
    await metrics.close();
    await coordinator.close();

    const reportPath = join(runDir, "eval", "final", "report.json");
    if (!result.ok && !interrupted) {
      console.error(`run ${name} failed: ${result.reason}\nlogs: ${join(runDir, "logs")}`);
      return 1;
    }
    if (interrupted) {
      console.log(`run ${name} stopped; last checkpoint in ${join(runDir, "checkpoints")}`);
      return 130;
    }
    const engines = await workerBackends(join(runDir, "logs"));
    console.log(
      `\nrun ${name} finished: ${lastStep} steps on ${engines.join(" / ") || "an unknown backend"}, ${result.restarts} worker restart(s)`,
    );
    if (existsSync(reportPath)) {
      const report = JSON.parse(await readFile(reportPath, "utf8")) as ReportJson;
      console.log(
        `\nEvaluation on ${report.count} ${spec.evaluation.split === "test" ? "test" : "validation"} reports (eval/final/report.md):\n${summaryTable(report)}`,
      );
    }
    console.log(`\nadapter: ${join(runDir, "adapter")}\nrun directory: ${runDir}`);
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

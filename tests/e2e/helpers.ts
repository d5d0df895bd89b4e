// Shared by the end-to-end tests: run the real `radfleet` CLI as a child process and read what a
// run leaves in its run directory.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const BIN = join(import.meta.dirname, "../../bin/radfleet.js");

export interface Running {
  done: Promise<{ code: number | null; out: string }>;
  pid: number;
}

export function radfleet(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 280_000,
  cwd?: string,
): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
    cwd,
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
  return { done, pid: child.pid! };
}

export async function progress(runDir: string): Promise<Array<{ step: number; loss: number }>> {
  if (!existsSync(join(runDir, "progress.jsonl"))) return [];
  return (await readFile(join(runDir, "progress.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss: number });
}

export async function workerLogs(runDir: string, workers = 2): Promise<string> {
  let all = "";
  for (let i = 0; i < workers; i++) all += await readFile(join(runDir, "logs", `worker-${i}.log`), "utf8");
  return all;
}

/** A synthetic data set small enough for end-to-end tests (a few seconds to generate). */
export async function synthData(dir: string): Promise<void> {
  const r = await radfleet(["data", "synth", "--out", dir, "--studies", "48", "--seed", "3", "--size", "64"])
    .done;
  if (r.code !== 0) throw new Error(`radfleet data synth failed: ${r.out}`);
}

/** A test-sized two-worker spec: 32 px images, short reports, r = 4 adapters. */
export async function writeSpec(
  path: string,
  dataDir: string,
  extra: string[] = [],
  steps = 10,
): Promise<void> {
  const defaults = [
    `data: { path: ${dataDir}, imageSize: 32, maxReportTokens: 32 }`,
    // A seeded random tiny model at 32 px keeps these runs fast (the shipped base takes 64 px).
    "model: { init: random, lora: { r: 4, dropout: 0.1 } }",
    `training: { steps: ${steps}, batchSize: 2, learningRate: 0.003, warmupSteps: 2, verifyEvery: 2, maxNonFiniteSteps: 2 }`,
    "evaluation: { maxSamples: 4, generation: { maxNewTokens: 12 } }",
    // min = max = 2: a lost worker is waited for, so a recovered run repeats an uninterrupted one.
    "replicas: { min: 2, max: 2 }",
    "rendezvous: { lastCallSeconds: 0.2, heartbeatIntervalSeconds: 0.5, heartbeatTimeoutSeconds: 5 }",
    "restartPolicy: { backoffLimit: 2, initialBackoffSeconds: 0.2 }",
    "collective: { timeoutSeconds: 5 }",
  ];
  // A top-level section given in `extra` replaces the default one.
  const section = (line: string) => line.slice(0, line.indexOf(":"));
  const overridden = new Set(extra.map(section));
  await writeFile(path, [...defaults.filter((l) => !overridden.has(section(l))), ...extra].join("\n") + "\n");
}

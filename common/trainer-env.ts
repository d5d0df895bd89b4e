// The contract between a launcher (local processes or Kubernetes pods) and a trainer process:
// environment variables, validated once at the trainer's edge. Launchers build it with
// `trainerEnv()`, trainers read it with `readTrainerEnv()`, so the two cannot disagree on names.

/**
 * Exit code with which a trainer reports a failure a restart cannot fix (a diverged run, repeated
 * non-finite losses, a spec the data or model contradicts); launchers fail the run instead of retrying.
 */
export const EXIT_PERMANENT_FAILURE = 3;

/**
 * Exit code with which a trainer reports a failure of its own that a fresh process may not repeat
 * (generations kept ending under it before a step); launchers restart it under their back-off limit.
 */
export const EXIT_RETRYABLE_FAILURE = 1;

/**
 * CPU cores a trainer may use (a Kubernetes quantity: "2", "1500m"), which sizes its tensor
 * engine's thread pool: on Kubernetes the pod's CPU request (the cores the scheduler reserved for
 * it) through the downward API, locally the launcher's share of this machine's cores. Optional: a
 * trainer without it uses every core.
 */
export const CPU_LIMIT_ENV = "RADFLEET_CPU_LIMIT";

/** Cores each of `workers` trainers on one machine gets, so that together they do not oversubscribe it. */
export function localCpuShare(workers: number, cores: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, workers)));
}

export interface TrainerEnv {
  /** Run id (metadata.name of the TrainingRun or the local run's name). */
  runId: string;
  /** Stable worker id; a restarted worker keeps it, which makes its join a rejoin. */
  workerId: string;
  /** host:port of the run's coordinator (gRPC). */
  coordinator: string;
  /** The run's access token, sent on every coordinator call. */
  token: string;
  /** Path of the resolved run spec (YAML). */
  specPath: string;
  /** Run directory for outputs (final adapter, evaluation report, metrics log). */
  runDir: string;
  /** Port for /metrics (0 picks a free one). */
  metricsPort: number;
  /** Host the collective data plane binds to and advertises. */
  advertiseHost: string;
}

const VARS = {
  runId: "RADFLEET_RUN_ID",
  workerId: "RADFLEET_WORKER_ID",
  coordinator: "RADFLEET_COORDINATOR",
  token: "RADFLEET_TOKEN",
  specPath: "RADFLEET_SPEC",
  runDir: "RADFLEET_RUN_DIR",
  metricsPort: "RADFLEET_METRICS_PORT",
  advertiseHost: "RADFLEET_ADVERTISE_HOST",
} as const;

export function trainerEnv(e: TrainerEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, name] of Object.entries(VARS)) out[name] = String(e[k as keyof TrainerEnv]);
  return out;
}

/** Reads and checks the trainer's environment; throws one error listing every problem. */
export function readTrainerEnv(env: NodeJS.ProcessEnv = process.env): TrainerEnv {
  const problems: string[] = [];
  const req = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === "") problems.push(`${name}: required, not set`);
    return v ?? "";
  };
  const coordinator = req(VARS.coordinator);
  if (coordinator && !/^[^\s:]+:\d+$/.test(coordinator)) {
    problems.push(`${VARS.coordinator}: expected host:port, got ${JSON.stringify(coordinator)}`);
  }
  const portText = env[VARS.metricsPort] ?? "0";
  const metricsPort = Number(portText);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
    problems.push(`${VARS.metricsPort}: expected a port number 0..65535, got ${JSON.stringify(portText)}`);
  }
  const result: TrainerEnv = {
    runId: req(VARS.runId),
    workerId: req(VARS.workerId),
    coordinator,
    token: req(VARS.token),
    specPath: req(VARS.specPath),
    runDir: env[VARS.runDir] || ".",
    metricsPort,
    advertiseHost: env[VARS.advertiseHost] || "127.0.0.1",
  };
  if (problems.length) throw new Error(`trainer environment is incomplete:\n  ${problems.join("\n  ")}`);
  return result;
}

import type { RunSpec } from "../../common/spec/index.js";
// Coordinator options: a plain typed object with explicit defaults. The controller maps the run
// spec onto it; the coordinator knows nothing of the spec.

export interface CoordinatorOptions {
  /** The run this coordinator serves (also the NATS subject and KV key component). */
  runId: string;
  /** Every call must carry it as `authorization: Bearer <token>`. */
  token: string;
  /** A generation closes early only once this many workers have joined. Default 1. */
  minWorkers?: number;
  /** A generation closes at once when this many have joined. Default: minWorkers. */
  maxWorkers?: number;
  /** A join that has not been placed in a generation within this time fails. Default 600 s (torch). */
  joinTimeoutMs?: number;
  /** Once min workers are in, how long to wait after the latest join for more. Default 30 s (torch). */
  lastCallMs?: number;
  /** How often workers send heartbeats on their session stream. Default 2 s. */
  heartbeatIntervalMs?: number;
  /** A member silent this long is declared failed. Default 5 × heartbeatIntervalMs. */
  heartbeatTimeoutMs?: number;
  /** NATS server for events and run state; without it events are counted as dropped. */
  natsUrl?: string;
  /** The KV bucket of the run's state and progress records. Default "radfleet-runs". */
  natsBucket?: string;
  /**
   * A JSON file that also keeps the run state (written atomically on every change, read at
   * start), so a run without NATS can be resumed. Where both exist their states are merged.
   */
  stateFile?: string;
  /** When given, only these worker ids are admitted (others get PERMISSION_DENIED). */
  allowedWorkerIds?: readonly string[];
  /** End a running generation below max size when a new worker is waiting, to admit it. Default true. */
  admitLateJoiners?: boolean;
  /** How many committed checkpoints the run state keeps. Default 20. */
  keepCheckpoints?: number;
}

export type ResolvedCoordinatorOptions = Required<
  Omit<CoordinatorOptions, "natsUrl" | "natsBucket" | "allowedWorkerIds" | "stateFile">
> &
  Pick<CoordinatorOptions, "natsUrl" | "natsBucket" | "allowedWorkerIds" | "stateFile">;

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`coordinator option ${name}: expected an integer >= 1, got ${v}`);
  return v;
}

export function resolveOptions(o: CoordinatorOptions): ResolvedCoordinatorOptions {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.runId)) {
    throw new Error(
      `coordinator option runId: expected a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(o.runId)}`,
    );
  }
  if (!o.token) throw new Error("coordinator option token: expected a non-empty string");
  const minWorkers = positiveInt("minWorkers", o.minWorkers ?? 1);
  const maxWorkers = positiveInt("maxWorkers", o.maxWorkers ?? minWorkers);
  if (maxWorkers < minWorkers) {
    throw new Error(
      `coordinator option maxWorkers: expected >= minWorkers (${minWorkers}), got ${maxWorkers}`,
    );
  }
  const heartbeatIntervalMs = positiveInt("heartbeatIntervalMs", o.heartbeatIntervalMs ?? 2_000);
  const heartbeatTimeoutMs = positiveInt(
    "heartbeatTimeoutMs",
    o.heartbeatTimeoutMs ?? 5 * heartbeatIntervalMs,
  );
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw new Error(
      `coordinator option heartbeatTimeoutMs: expected more than heartbeatIntervalMs (${heartbeatIntervalMs}), got ${heartbeatTimeoutMs}`,
    );
  }
  return {
    runId: o.runId,
    token: o.token,
    minWorkers,
    maxWorkers,
    joinTimeoutMs: positiveInt("joinTimeoutMs", o.joinTimeoutMs ?? 600_000),
    lastCallMs: o.lastCallMs ?? 30_000,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    natsUrl: o.natsUrl,
    natsBucket: o.natsBucket,
    stateFile: o.stateFile,
    allowedWorkerIds: o.allowedWorkerIds,
    admitLateJoiners: o.admitLateJoiners ?? true,
    keepCheckpoints: positiveInt("keepCheckpoints", o.keepCheckpoints ?? 20),
  };
}

/**
 * The coordinator options a run spec implies (replicas, rendezvous timings, NATS, retention), so
 * every place that starts a run's coordinator maps the spec the same way.
 */
export function coordinatorOptionsFromSpec(
  spec: RunSpec,
  run: { runId: string; token: string; allowedWorkerIds?: readonly string[] },
): CoordinatorOptions {
  return {
    runId: run.runId,
    token: run.token,
    allowedWorkerIds: run.allowedWorkerIds,
    minWorkers: spec.replicas.min,
    maxWorkers: spec.replicas.max,
    joinTimeoutMs: spec.rendezvous.joinTimeoutSeconds * 1000,
    lastCallMs: spec.rendezvous.lastCallSeconds * 1000,
    heartbeatIntervalMs: spec.rendezvous.heartbeatIntervalSeconds * 1000,
    heartbeatTimeoutMs: spec.rendezvous.heartbeatTimeoutSeconds * 1000,
    natsUrl: spec.nats.url,
    natsBucket: spec.nats.kvBucket,
    keepCheckpoints: spec.checkpoint.keep,
  };
}

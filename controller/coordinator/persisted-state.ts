// The run state that survives a coordinator restart, as it is saved (NATS KV and the state file):
// its shape, reading it back and merging two saved copies. Pure, so both stores and the
// coordinator share one definition without importing each other.
import type { CheckpointPartRecord, CommittedCheckpoint } from "../../common/coordinator-client/index.js";

/** The state that survives a coordinator restart (kept in NATS KV and/or the state file). */
export interface PersistedRunState {
  runId: string;
  generation: number;
  restartCount: number;
  checkpoints: CommittedCheckpoint[];
}

/**
 * Two saved states of one run (KV and a state file, or KV and this coordinator's own) as one: the
 * higher generation and restart count, and the committed checkpoints of both by step, newest kept.
 */
export function mergeRunStates(
  a: PersistedRunState | null,
  b: PersistedRunState | null,
  keep: number,
): PersistedRunState | null {
  if (!a || !b) return a ?? b;
  const byStep = new Map<number, CommittedCheckpoint>();
  for (const c of [...a.checkpoints, ...b.checkpoints]) byStep.set(c.step, c);
  return {
    runId: a.runId,
    generation: Math.max(a.generation, b.generation),
    restartCount: Math.max(a.restartCount, b.restartCount),
    checkpoints: [...byStep.values()].sort((x, y) => x.step - y.step).slice(-keep),
  };
}

/**
 * Validates a saved state (written by an earlier coordinator, maybe an older version); null when
 * it is not a state of run `runId`.
 */
export function parsePersistedState(v: unknown, runId: string): PersistedRunState | null {
  if (typeof v !== "object" || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.runId !== runId || typeof o.generation !== "number" || typeof o.restartCount !== "number")
    return null;
  if (!Array.isArray(o.checkpoints)) return null;
  const checkpoints: CommittedCheckpoint[] = [];
  for (const c of o.checkpoints as unknown[]) {
    const x = c as Record<string, unknown>;
    if (typeof x?.step !== "number" || typeof x.generation !== "number" || !Array.isArray(x.parts))
      return null;
    checkpoints.push({
      step: x.step,
      generation: x.generation,
      parts: (x.parts as CheckpointPartRecord[]).map((p) => ({
        name: String(p.name),
        uri: String(p.uri),
        size: Number(p.size),
        sha256: String(p.sha256),
      })),
      committedAtUnixMs: Number(x.committedAtUnixMs ?? 0),
    });
  }
  return { runId, generation: o.generation, restartCount: o.restartCount, checkpoints };
}

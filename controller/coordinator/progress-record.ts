// The run's progress record for NATS KV (common/run-records.ts): rank 0's latest report joined with
// what only the coordinator knows (generation, world size, restarts, the newest committed
// checkpoint) and the latest evaluation, which later step reports no longer carry.
import type { CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import type { WorkerProgress } from "../../common/progress.js";
import type { RunProgressRecord } from "../../common/run-records.js";

export interface RunFigures {
  generation: number;
  worldSize: number;
  restarts: number;
  lastCheckpoint: CommittedCheckpoint | null;
  /** The latest evaluation's metrics, when there was one. */
  lastEvaluation?: Record<string, number>;
}

/** Where a checkpoint's parts are: their common folder (a directory, a PVC path, an object prefix). */
export function checkpointLocation(c: CommittedCheckpoint): string {
  const uri = c.parts[0]?.uri ?? "";
  const cut = uri.lastIndexOf("/");
  return cut > 0 ? uri.slice(0, cut) : uri;
}

export function runProgressRecord(p: WorkerProgress, run: RunFigures): RunProgressRecord {
  const out: RunProgressRecord = {
    step: p.step,
    totalSteps: p.totalSteps,
    generation: run.generation,
    worldSize: run.worldSize,
    restarts: run.restarts,
  };
  // Before the first step the losses are NaN: leave them out rather than write null.
  if (Number.isFinite(p.loss)) out.loss = p.loss;
  const c = run.lastCheckpoint;
  if (c) {
    out.lastCheckpoint = {
      step: c.step,
      uri: checkpointLocation(c),
      time: new Date(c.committedAtUnixMs).toISOString(),
    };
  }
  if (run.lastEvaluation) out.evaluation = { ...run.lastEvaluation };
  return out;
}

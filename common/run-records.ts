// What a run keeps in NATS KV, and under which keys: the contract between the coordinator, which
// writes both records, and their readers (a restarted coordinator reads the state; the Kubernetes
// controller reads the progress for a TrainingRun's status: PROGRESS, ETA, LOSS). One definition,
// so the writer and the readers cannot drift apart.

/** The bucket when the run spec does not name one (spec.nats.kvBucket). */
export const DEFAULT_RUN_BUCKET = "radfleet-runs";

/** KV keys allow [-/_=.a-zA-Z0-9]; run ids are DNS labels, so they fit as they are. */
export function runStateKey(runId: string): string {
  return `${runId}.state`;
}

export function runProgressKey(runId: string): string {
  return `${runId}.progress`;
}

/** The run's progress as the coordinator last saw it: rank 0's latest report and the run's own figures. */
export interface RunProgressRecord {
  step: number;
  totalSteps: number;
  loss?: number;
  generation?: number;
  worldSize?: number;
  restarts?: number;
  /** The newest committed checkpoint: its step, where it is, when it was committed (ISO 8601). */
  lastCheckpoint?: { step: number; uri: string; time: string };
  /** Headline metrics of the latest evaluation. */
  evaluation?: Record<string, number>;
}

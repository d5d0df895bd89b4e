// A trainer's training progress: one definition for the trainer (rank 0 reports it), the
// coordinator client (sends it) and the coordinator (keeps and fans it out). On the wire it is the
// proto's ReportProgressRequest; common/proto/progress.ts converts at that edge.

export const TRAINING_PHASES = ["training", "evaluating", "checkpointing", "finished", "failed"] as const;
export type TrainingPhase = (typeof TRAINING_PHASES)[number];

/** One progress report of a trainer. */
export interface Progress {
  step: number;
  totalSteps: number;
  loss: number;
  lmLoss: number;
  clsLoss: number;
  learningRate: number;
  samplesPerSecond: number;
  /** Absent: unchanged since the previous report. */
  phase?: TrainingPhase;
  message?: string;
  /** Metric name -> value, when an evaluation has just completed. */
  evaluation?: Record<string, number>;
}

/** A report that may leave out what it does not know yet (all but the step). */
export type ProgressUpdate = Pick<Progress, "step"> & Partial<Progress>;

/** The coordinator's record of a worker's latest report, with what the wire fills in. */
export interface WorkerProgress extends Required<Omit<Progress, "phase">> {
  workerId: string;
  /** The generation the worker was in when it reported (0: none). */
  generation: number;
  /** As sent: a TrainingPhase, or "" when unchanged. */
  phase: string;
  /** When the coordinator received it. */
  atUnixMs: number;
}

// What the training recipe needs from the run's coordinator, as a small interface. The trainer's
// entry point adapts the gRPC coordinator client to it; the recipe itself knows nothing of gRPC.
import type { Progress } from "../../common/progress.js";
import type { StoredPart } from "../checkpoint/index.js";

export interface CheckpointRef {
  step: number;
  /** Generation that wrote it. */
  generation: number;
  parts: StoredPart[];
}

export interface GenerationInfo {
  generation: number;
  rank: number;
  worldSize: number;
  /** Collective data-plane address of every rank, in rank order. */
  peers: string[];
  /** The newest committed checkpoint, or null to start from scratch. */
  resumeFrom: CheckpointRef | null;
  /** Aborted the moment the coordinator ends this generation (a worker was lost). */
  signal: AbortSignal;
}

export interface Coordination {
  /** Joins the next generation (waits until it closes). */
  join(): Promise<GenerationInfo>;
  /**
   * Reports the parts this worker wrote for the checkpoint at `step` (none on ranks other than 0)
   * and votes to commit it; resolves once every member voted and the manifest is committed.
   */
  commitCheckpoint(generation: number, step: number, parts: StoredPart[]): Promise<void>;
  /**
   * Gives up the checkpoint at `step` after a failed write: votes for parts that were never
   * reported, which makes the coordinator refuse the step and release every other voter.
   */
  abandonCheckpoint(generation: number, step: number, partNames: string[]): Promise<void>;
  /** Committed checkpoints, newest first (a corrupt newest one falls back to the next). */
  committedCheckpoints(): Promise<CheckpointRef[]>;
  reportProgress(p: Progress): void;
  /** Tells the coordinator this worker is finished (done, stopped or failed). */
  leave(reason: "done" | "stopped" | "failed", message?: string): Promise<void>;
  close(): Promise<void>;
}

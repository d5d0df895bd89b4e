// Workers' progress reports: the latest one of each worker, handed to listeners as they arrive and
// fanned out as run events (rank 0's progress, completed evaluations, changes of the run's phase).
import type { WorkerProgress } from "../../common/progress.js";
import type { RunEventType } from "./nats-bridge.js";

export interface ProgressBoardOptions {
  /** The worker's rank in the running generation; undefined when it is not a member of it. */
  rankOf(workerId: string): number | undefined;
  publish(type: RunEventType, payload: Record<string, unknown>): void;
}

export class ProgressBoard {
  private readonly latest = new Map<string, WorkerProgress>();
  private readonly listeners = new Set<(p: WorkerProgress) => void>();
  private phase = "";

  constructor(private readonly o: ProgressBoardOptions) {}

  report(snap: WorkerProgress): void {
    this.latest.set(snap.workerId, snap);
    for (const l of this.listeners) l(snap);
    const rank = this.o.rankOf(snap.workerId);
    if (rank === 0) this.o.publish("progress", { ...snap });
    if (Object.keys(snap.evaluation).length > 0) {
      this.o.publish("evaluation_completed", {
        workerId: snap.workerId,
        step: snap.step,
        generation: snap.generation,
        metrics: snap.evaluation,
      });
    }
    // The run's phase is rank 0's; a worker outside the generation (waiting, or left over from
    // an ended one) does not set it.
    if (snap.phase && snap.phase !== this.phase && rank === 0) {
      this.phase = snap.phase;
      this.o.publish("run_phase", { phase: snap.phase, step: snap.step, message: snap.message });
    }
  }

  /** The latest report of every worker that reported. */
  all(): WorkerProgress[] {
    return [...this.latest.values()];
  }

  /** Calls `listener` with every report, as it arrives; returns the unsubscribe. */
  onProgress(listener: (p: WorkerProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

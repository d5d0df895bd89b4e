// The run's state that outlives a generation and, saved, a coordinator: the generation counter,
// the restart count and the committed checkpoints (the newest `keep`). Every change is handed to
// `save` (NATS KV and/or the state file), in order; a commit is acknowledged once its save is.
import type { CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import type { Logger } from "../../common/log.js";
import { mergeRunStates, type PersistedRunState } from "./persisted-state.js";

export interface RunStateOptions {
  runId: string;
  /** How many committed checkpoints are kept. */
  keepCheckpoints: number;
  /** Called with the whole state after every change; resolves once it is durable. */
  save(state: PersistedRunState): Promise<void>;
  log: Logger;
}

export class RunState {
  private generationCounter = 0;
  private restartCount = 0;
  private checkpoints: CommittedCheckpoint[] = [];

  constructor(private readonly o: RunStateOptions) {}

  /** The number of the newest generation (0 before the first). */
  get generation(): number {
    return this.generationCounter;
  }

  /** How many times this run's coordinator was started again. */
  get restarts(): number {
    return this.restartCount;
  }

  /** Takes over what an earlier coordinator of this run saved: this start is one more restart. */
  restore(saved: PersistedRunState): void {
    this.generationCounter = saved.generation;
    this.restartCount = saved.restartCount + 1;
    this.checkpoints = saved.checkpoints;
    this.o.log.info("run_state_restored", {
      generation: this.generationCounter,
      restartCount: this.restartCount,
      checkpoints: this.checkpoints.length,
    });
    this.save();
  }

  /**
   * Merges a state saved by an earlier coordinator that became readable only after this one
   * started (NATS came up late), so its checkpoints and generation numbers are not overwritten.
   * Saves either way, so the store holds this coordinator's state from now on.
   */
  merge(saved: PersistedRunState | null): void {
    if (saved) {
      const own = { ...this.snapshot(), restartCount: this.restartCount - 1 };
      const merged = mergeRunStates(saved, own, this.o.keepCheckpoints)!;
      this.generationCounter = merged.generation;
      this.restartCount = merged.restartCount + 1;
      this.checkpoints = merged.checkpoints;
      this.o.log.info("run_state_merged", {
        generation: this.generationCounter,
        restartCount: this.restartCount,
        checkpoints: this.checkpoints.length,
      });
    }
    this.save();
  }

  /** Starts the next generation: its number. */
  nextGeneration(): number {
    this.generationCounter++;
    this.save();
    return this.generationCounter;
  }

  /**
   * Records a committed checkpoint, dropping the oldest beyond keepCheckpoints. Resolves once the
   * state holding it is durable; rejects when it could not be saved (it stays recorded here, and
   * the next save that succeeds holds it).
   */
  recordCommitted(c: CommittedCheckpoint): Promise<void> {
    this.checkpoints.push(c);
    if (this.checkpoints.length > this.o.keepCheckpoints) {
      this.checkpoints.splice(0, this.checkpoints.length - this.o.keepCheckpoints);
    }
    return this.save();
  }

  latestCheckpoint(): CommittedCheckpoint | null {
    return this.checkpoints.at(-1) ?? null;
  }

  /** Committed checkpoints, newest first. */
  listCheckpoints(): CommittedCheckpoint[] {
    return [...this.checkpoints].reverse();
  }

  snapshot(): PersistedRunState {
    return {
      runId: this.o.runId,
      generation: this.generationCounter,
      restartCount: this.restartCount,
      checkpoints: this.checkpoints,
    };
  }

  private save(): Promise<void> {
    const saved = this.o.save(this.snapshot());
    // Only a commit waits on its save; the others' failures are logged by the store.
    saved.catch(() => {});
    return saved;
  }
}

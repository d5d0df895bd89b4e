// Checkpoints of a run: save (rank 0 writes every part, then every rank votes to commit), prune
// (beyond spec.checkpoint.keep the oldest are removed), restore (newest committed first, falling
// back past corrupt ones), and agreement: every rank of a generation resumes from the same step.
import type { Logger } from "../../../common/log.js";
import type { RunSpec } from "../../../common/spec/index.js";
import { decodeCheckpoint, encodeCheckpoint, type TrainerState } from "../../checkpoint/index.js";
import {
  CheckpointCorruptError,
  CheckpointPartMissingError,
  CheckpointPartRefusedError,
  checkpointKey,
  type CheckpointStore,
  type StoredPart,
} from "../../checkpoint/index.js";
import { allGatherJson, type Collective } from "../../collective/index.js";
import { defaultThresholds } from "../../findings/index.js";
import type { VisionLanguageModel } from "../../model/index.js";
import type { CheckpointRef, Coordination, GenerationInfo } from "../coordination.js";
import type { TrainerMetrics } from "../metrics.js";
import type { FlatParams } from "../params.js";
import { TrainingFailure } from "./failure.js";
import { checkStep } from "./gathered.js";
import { freshRunState, type RunState } from "./run-state.js";

export interface CheckpointingOptions {
  spec: Pick<RunSpec, "training" | "checkpoint">;
  coordination: Pick<Coordination, "commitCheckpoint" | "abandonCheckpoint" | "committedCheckpoints">;
  store: CheckpointStore;
  model: Pick<VisionLanguageModel, "adapterTensors" | "adapterConfig" | "loadAdapterTensors">;
  params: FlatParams;
  /** The parameters as built: a run with nothing committed starts from them. */
  initialParams: Float32Array;
  totalSteps: number;
  /** The tensor engine and its threads, recorded in each checkpoint. */
  engine?: string;
  metrics: Pick<
    TrainerMetrics,
    "lastCommit" | "lastCommitStep" | "checkpointInterval" | "checkpointDuration" | "checkpointFailures"
  >;
  log: Logger;
}

export class Checkpointing {
  /**
   * Steps of committed checkpoints this process knows of, oldest first; filled from the coordinator
   * at the first commit, kept across generations.
   */
  private readonly retained: number[] = [];

  constructor(private readonly o: CheckpointingOptions) {
    o.metrics.checkpointInterval.set(o.spec.checkpoint.interval);
  }

  /**
   * Saves and commits the checkpoint of `state.step`. A failure is logged and counted, not thrown:
   * the last committed checkpoint is untouched and training goes on until the next interval.
   */
  async save(g: Pick<GenerationInfo, "generation" | "rank" | "worldSize">, state: RunState): Promise<void> {
    const { coordination, store, model, params, metrics, log } = this.o;
    const t0 = performance.now();
    try {
      if (g.rank !== 0) {
        // Replicas are identical, so rank 0 writes every part; the others only vote to commit.
        await coordination.commitCheckpoint(g.generation, state.step, []);
        return;
      }
      const trainerState: TrainerState = {
        step: state.step,
        totalSteps: this.o.totalSteps,
        sampler: state.sampler,
        nonFiniteInARow: state.nonFiniteInARow,
        optimizerT: state.opt.t,
        paramsSha256: params.checksum(),
        worldSize: g.worldSize,
        generation: g.generation,
        findingsThresholds: state.thresholds,
        engine: this.o.engine,
      };
      const parts = encodeCheckpoint({
        adapter: model.adapterTensors(),
        adapterConfig: model.adapterConfig(),
        optimizer: state.opt,
        state: trainerState,
      });
      const key = checkpointKey(state.step);
      const stored: StoredPart[] = [];
      try {
        for (const [name, bytes] of parts) stored.push(await store.put(key, name, bytes));
      } catch (err) {
        // Release the other ranks' votes: the coordinator refuses this step, so nobody waits on it.
        await coordination.abandonCheckpoint(g.generation, state.step, [...parts.keys()]);
        throw err;
      }
      await coordination.commitCheckpoint(g.generation, state.step, stored);
      metrics.lastCommit.set(Date.now() / 1000);
      metrics.lastCommitStep.set(state.step);
      metrics.checkpointDuration.observe((performance.now() - t0) / 1000);
      log.info("checkpoint_committed", { step: state.step, location: store.location });
      await this.prune(state.step);
    } catch (err) {
      metrics.checkpointFailures.inc();
      log.error("checkpoint_failed", { step: state.step, err });
    }
  }

  /**
   * The state to resume from: `ref` or, when its parts fail their checksums or are gone, the newest
   * older committed checkpoint (at most step `atMost`); the initial parameters when `ref` is null.
   */
  async restore(ref: CheckpointRef | null, atMost = Infinity): Promise<RunState> {
    const { coordination, store, model, params, log } = this.o;
    if (!ref) {
      this.o.metrics.lastCommitStep.set(0);
      params.write(this.o.initialParams);
      return freshRunState(this.o.spec.training.seed, params.size);
    }
    const candidates = [
      ref,
      ...(await coordination.committedCheckpoints()).filter((c) => c.step < ref.step),
    ].filter((c) => c.step <= atMost);
    for (const c of candidates) {
      const parts = new Map<string, Uint8Array>();
      try {
        for (const p of c.parts) parts.set(p.name, await store.get(p));
      } catch (err) {
        // A part that is gone (or not what the manifest says) falls back like a corrupt one. Any
        // other failed read (the store is unreachable for a moment) must not: ranks falling back
        // on their own would resume from different steps. The trainer fails and its restart reads again.
        if (!(err instanceof CheckpointPartMissingError) && !(err instanceof CheckpointPartRefusedError))
          throw err;
        log.warn("checkpoint_unusable", { step: c.step, err });
        continue;
      }
      try {
        const ck = decodeCheckpoint(c, parts);
        model.loadAdapterTensors(ck.adapter);
        if (params.checksum() !== ck.state.paramsSha256) {
          throw new CheckpointCorruptError(
            c.step,
            "adapter_model.safetensors",
            "does not reproduce the saved parameters",
          );
        }
        log.info("checkpoint_restored", { step: c.step });
        this.o.metrics.lastCommitStep.set(c.step);
        this.warnIfEngineChanged(c.step, ck.state.engine);
        return {
          step: ck.state.step,
          sampler: ck.state.sampler,
          opt: ck.optimizer,
          nonFiniteInARow: ck.state.nonFiniteInARow,
          thresholds: ck.state.findingsThresholds ?? defaultThresholds(),
        };
      } catch (err) {
        log.warn("checkpoint_unusable", { step: c.step, err });
      }
    }
    throw new TrainingFailure("no committed checkpoint could be restored (all failed their checksums)");
  }

  /**
   * Restores `g.resumeFrom` on every rank of the generation and makes sure they agree. They read the
   * same bytes, so they do unless one fell back alone (a part it could not find); then all take the
   * oldest step restored.
   */
  async restoreAgreed(
    g: Pick<GenerationInfo, "resumeFrom">,
    collective: Collective,
    glog: Logger,
  ): Promise<RunState> {
    let state = await this.restore(g.resumeFrom);
    const restored = await allGatherJson(collective, state.step, checkStep);
    const agreed = Math.min(...restored);
    if (restored.some((s) => s !== agreed)) {
      glog.warn("checkpoint_restore_disagreed", { restored, agreed });
      if (state.step !== agreed) state = await this.restore(g.resumeFrom, agreed);
      // Not a permanent failure: the trainer exits, is restarted, and reads again.
      if (state.step !== agreed)
        throw new Error(`ranks restored steps ${restored.join(", ")}; step ${agreed} is not readable here`);
    }
    return state;
  }

  /** Records the commit at `step`; beyond `keep`, the oldest are removed (the coordinator forgets them too). */
  private async prune(step: number): Promise<void> {
    const { coordination, store, log } = this.o;
    if (this.retained.length === 0) {
      for (const c of await coordination.committedCheckpoints())
        if (c.step !== step) this.retained.unshift(c.step);
    }
    this.retained.push(step);
    while (this.retained.length > this.o.spec.checkpoint.keep) {
      const old = this.retained.shift()!;
      await store
        .remove(checkpointKey(old))
        .catch((err: unknown) => log.warn("checkpoint_prune_failed", { step: old, err }));
    }
  }

  /** Correct either way; only bit-for-bit equality with an uninterrupted run is lost. */
  private warnIfEngineChanged(step: number, checkpointEngine: string | undefined): void {
    const engine = this.o.engine;
    if (!checkpointEngine || !engine || checkpointEngine === engine) return;
    this.o.log.warn("engine_changed", {
      step,
      checkpointEngine,
      engine,
      message:
        "resumed on another tensor engine or thread count: the run continues, but not bit-identical to an uninterrupted one",
    });
  }
}

// The generation loop: join a rendezvous round, connect the collective of that generation, train
// until the run ends or the generation does, and, when the generation ended under us (a peer died,
// the coordinator aborted it), join the next one and resume from the last commit. Generations that
// keep ending before a single step completes (a peer that breaks every round the same way, a
// PROTOCOL error from mismatched inputs) fail the trainer after restartPolicy.maxStalledGenerations
// instead of rejoining forever; its restart then counts against the run's backoffLimit.
import type { Logger } from "../../../common/log.js";
import type { Registry } from "../../../common/metrics.js";
import type { RunSpec } from "../../../common/spec/index.js";
import { Collective, CollectiveError, type CollectiveListener } from "../../collective/index.js";
import type { Coordination, GenerationInfo } from "../coordination.js";
import type { TrainerMetrics } from "../metrics.js";
import { TrainingFailure } from "./failure.js";

export type RecipeOutcome =
  | { status: "done" | "stopped"; step: number }
  | {
      status: "failed";
      step: number;
      reason: string;
      /**
       * This process failed but the run need not: exit so the launcher restarts it (counted against
       * restartPolicy.backoffLimit) instead of leaving as failed, which ends the run.
       */
      retryable?: true;
    };

/** Trains within one generation; throws when the generation ends under it. */
export type TrainGeneration = (
  g: GenerationInfo,
  collective: Collective,
  glog: Logger,
) => Promise<RecipeOutcome>;

export interface GenerationLoopOptions {
  spec: Pick<RunSpec, "collective"> & {
    restartPolicy: Pick<RunSpec["restartPolicy"], "maxStalledGenerations">;
  };
  coordination: Pick<Coordination, "join">;
  listener: CollectiveListener;
  /** Where the collective registers its all-reduce metrics. */
  registry?: Registry;
  /** The last step this process completed (reported with a failure) and how many it completed. */
  progress: { readonly last: { readonly step: number }; readonly stepsCompleted: number };
  metrics: Pick<TrainerMetrics, "generationRestarts">;
  log: Logger;
  /** Called when this process's rank changes (metric labels follow the rank). */
  onRank?: (rank: number, generation: number) => void;
}

export async function runGenerations(
  o: GenerationLoopOptions,
  train: TrainGeneration,
): Promise<RecipeOutcome> {
  const { spec } = o;
  const limit = spec.restartPolicy.maxStalledGenerations;
  let stalled = 0;
  for (;;) {
    const g = await o.coordination.join();
    const stepsAtJoin = o.progress.stepsCompleted;
    o.onRank?.(g.rank, g.generation);
    const glog = o.log.child({ generation: g.generation, rank: g.rank });
    glog.info("generation_joined", { worldSize: g.worldSize, resumeFrom: g.resumeFrom?.step ?? null });
    let collective: Collective | undefined;
    try {
      collective = await Collective.connect({
        rank: g.rank,
        worldSize: g.worldSize,
        generation: g.generation,
        peers: g.peers,
        listener: o.listener,
        timeoutMs: spec.collective.timeoutSeconds * 1000,
        bucketBytes: spec.collective.bucketBytes,
        compression: spec.collective.compression,
        signal: g.signal,
        registry: o.registry,
        logger: glog,
      });
      return await train(g, collective, glog);
    } catch (err) {
      if (err instanceof TrainingFailure) {
        glog.error("training_failed", { err });
        return { status: "failed", step: o.progress.last.step, reason: err.message };
      }
      if (err instanceof CollectiveError || g.signal.aborted) {
        // The generation ended under us (a peer died): rejoin and resume from the last commit.
        o.metrics.generationRestarts.inc();
        stalled = o.progress.stepsCompleted > stepsAtJoin ? 0 : stalled + 1;
        glog.warn("generation_lost", { err, stalled });
        if (limit > 0 && stalled >= limit) {
          const why =
            err instanceof CollectiveError ? `${err.code}: ${err.message}` : String(g.signal.reason);
          const reason = `${stalled} generations in a row ended before a step completed (restartPolicy.maxStalledGenerations ${limit}); the last: ${why}`;
          glog.error("training_failed", { reason });
          return { status: "failed", step: o.progress.last.step, reason, retryable: true };
        }
        continue;
      }
      throw err;
    } finally {
      await collective?.close().catch(() => {});
    }
  }
}

// What this worker tells the world about its progress: after each step the trainer metrics, the
// "step" log line and (rank 0) a progress report to the coordinator; after an evaluation the
// headline metrics in a progress report. The last step's figures are kept as a named field: the
// evaluation reports carry them, and a failed run reports the last step it completed.
import * as tf from "@tensorflow/tfjs";
import type { Logger } from "../../../common/log.js";
import type { Coordination } from "../coordination.js";
import type { TrainerMetrics } from "../metrics.js";
import type { StepResult } from "./step.js";

export interface StepProgress {
  step: number;
  totalSteps: number;
  loss: number;
  lmLoss: number;
  clsLoss: number;
  learningRate: number;
  /** Examples per second over all ranks. */
  samplesPerSecond: number;
}

export type ProgressMetrics = Pick<
  TrainerMetrics,
  "stepPhase" | "loss" | "learningRate" | "step" | "samples" | "tokens" | "tensorMemory" | "gradNorm"
>;

export class ProgressReporter {
  private lastStep: StepProgress;
  private completed = 0;

  constructor(
    private readonly coordination: Pick<Coordination, "reportProgress">,
    private readonly metrics: ProgressMetrics,
    private readonly log: Logger,
    totalSteps: number,
  ) {
    this.lastStep = {
      step: 0,
      totalSteps,
      loss: NaN,
      lmLoss: NaN,
      clsLoss: NaN,
      learningRate: 0,
      samplesPerSecond: 0,
    };
  }

  /** Steps this process has completed since it started, across generations and restores. */
  get stepsCompleted(): number {
    return this.completed;
  }

  /** The last step this process completed (step 0 with NaN losses before the first). */
  get last(): Readonly<StepProgress> {
    return this.lastStep;
  }

  stepDone(r: StepResult, at: { rank: number; worldSize: number }): void {
    const { metrics } = this;
    const seconds = r.ms.total / 1000;
    this.completed++;
    if (r.gradNorm !== undefined) metrics.gradNorm.set(r.gradNorm);
    metrics.stepPhase.observe({ phase: "data" }, r.ms.data / 1000);
    metrics.stepPhase.observe({ phase: "forward_backward" }, r.ms.forwardBackward / 1000);
    metrics.stepPhase.observe({ phase: "allreduce" }, r.ms.allreduce / 1000);
    metrics.stepPhase.observe({ phase: "optimizer" }, r.ms.optimizer / 1000);
    metrics.loss.set({ kind: "total" }, r.loss);
    metrics.loss.set({ kind: "lm" }, r.lmLoss);
    metrics.loss.set({ kind: "cls" }, r.clsLoss);
    metrics.learningRate.set(r.learningRate);
    metrics.step.set(r.step);
    metrics.samples.inc(r.samples);
    metrics.tokens.inc(r.tokens);
    metrics.tensorMemory.set(tf.memory().numBytes);
    this.lastStep = {
      step: r.step,
      totalSteps: this.lastStep.totalSteps,
      loss: r.loss,
      lmLoss: r.lmLoss,
      clsLoss: r.clsLoss,
      learningRate: r.learningRate,
      samplesPerSecond: (r.samples * at.worldSize) / seconds,
    };
    if (at.rank === 0) this.coordination.reportProgress({ ...this.lastStep, phase: "training" });
    const ms = (x: number) => Number(x.toFixed(2));
    this.log.info("step", {
      step: r.step,
      loss: r.loss,
      lmLoss: r.lmLoss,
      clsLoss: r.clsLoss,
      lr: r.learningRate,
      seconds: Number(seconds.toFixed(4)),
      phasesMs: {
        data: ms(r.ms.data),
        forwardBackward: ms(r.ms.forwardBackward),
        allreduce: ms(r.ms.allreduce),
        optimizer: ms(r.ms.optimizer),
      },
    });
  }

  /**
   * An evaluation's headline metrics at `step` (the run's step: a process restarted after the last
   * step evaluates without taking one), with the last step's figures; `final` ends the run's progress.
   */
  evaluated(headline: Record<string, number>, step: number, final: boolean): void {
    this.coordination.reportProgress({
      ...this.lastStep,
      step,
      evaluation: headline,
      phase: final ? "finished" : "training",
    });
  }
}

// One optimizer step: gradAccum micro-batches of this rank's shard → forward → loss = LM
// cross-entropy on the report tokens + λ · BCE on the 14 labels → backward (LoRA adapters and the
// head only) → one all-reduce of the gradients, the two losses and the stop flag → skip the update if
// anything is non-finite, else clip → AdamW (on the all-reduced bits, so replicas stay identical) →
// learning-rate schedule. Dropout draws from (seed, step, micro-batch, rank), so a resumed run
// repeats an uninterrupted one bit for bit.
import * as tf from "@tensorflow/tfjs";
import type { Logger } from "../../../common/log.js";
import type { RunSpec } from "../../../common/spec/index.js";
import { bucketViews, type Collective } from "../../collective/index.js";
import type { ShardedSampler } from "../../data/index.js";
import type { VisionLanguageModel } from "../../model/index.js";
import { maskedBce, maskedCrossEntropy } from "../losses.js";
import type { TrainerMetrics } from "../metrics.js";
import { ADAMW_DEFAULTS, adamwStep, allFinite, clipByGlobalNorm } from "../../optim/index.js";
import type { FlatParams } from "../params.js";
import { deriveSeed, PURPOSE } from "../rng.js";
import { learningRate } from "../../optim/index.js";
import { TrainingFailure } from "./failure.js";
import type { FaultHooks } from "./faults.js";
import type { RunState } from "./run-state.js";
import type { TrainBatches } from "./train-batches.js";

/** The lm loss, cls loss and stop flag travel after the gradients in the all-reduced buffer. */
const EXTRA = 3;

export interface TrainStepOptions {
  spec: RunSpec;
  model: Pick<VisionLanguageModel, "forward">;
  params: FlatParams;
  batches: Pick<TrainBatches, "load" | "encode">;
  totalSteps: number;
  faults: FaultHooks;
  /** Aborted on SIGTERM/SIGINT: the flag rides the all-reduce, so every rank stops after the same step. */
  stop: AbortSignal;
  metrics: Pick<TrainerMetrics, "nonFinite">;
  log: Logger;
}

/** This rank's place in the generation. */
export interface StepShard {
  rank: number;
  worldSize: number;
  collective: Collective;
  sampler: ShardedSampler;
}

export interface StepResult {
  /** Optimizer steps completed, this one included. */
  step: number;
  /** Means over the ranks and micro-batches. */
  loss: number;
  lmLoss: number;
  clsLoss: number;
  learningRate: number;
  /** Whether any rank asked to stop. */
  stop: boolean;
  /** Examples and report tokens this rank processed. */
  samples: number;
  tokens: number;
  /** Global gradient norm before clipping; absent when the step was skipped as non-finite. */
  gradNorm?: number;
  /** Wall time of each phase and of the whole step. */
  ms: { data: number; forwardBackward: number; allreduce: number; optimizer: number; total: number };
}

interface Accumulated {
  lmSum: number;
  clsSum: number;
  samples: number;
  tokens: number;
  batchIds: string[];
  dataMs: number;
  computeMs: number;
}

export class TrainStep {
  /** Gradients summed over this step's micro-batches, then the all-reduced mean. */
  private readonly grads: Float32Array<ArrayBuffer>;
  /** One micro-batch's gradients. */
  private readonly micro: Float32Array<ArrayBuffer>;
  /** What this rank contributes to the all-reduce: gradients ++ [lm loss, cls loss, stop flag]. */
  private readonly reduceBuf: Float32Array<ArrayBuffer>;
  /** The parameters the optimizer updates. */
  private readonly flat: Float32Array<ArrayBuffer>;

  constructor(private readonly o: TrainStepOptions) {
    const n = o.params.size;
    this.grads = new Float32Array(n);
    this.micro = new Float32Array(n);
    this.reduceBuf = new Float32Array(n + EXTRA);
    this.flat = new Float32Array(n);
  }

  /** Takes one optimizer step and advances `state` (step, data cursor, optimizer, counters). */
  async run(state: RunState, shard: StepShard): Promise<StepResult> {
    const { spec, totalSteps } = this.o;
    const t0 = performance.now();
    const acc = await this.accumulate(state, shard);
    const t1 = performance.now();
    const { lmLoss, clsLoss, stop } = await this.allReduce(acc, state, shard);
    const t2 = performance.now();
    const loss = lmLoss + spec.task.clsWeight * clsLoss;
    const lr = learningRate(state.step, {
      kind: spec.training.schedule,
      peak: spec.training.learningRate,
      warmupSteps: spec.training.warmupSteps,
      totalSteps,
    });
    const gradNorm = this.update(state, shard.rank, loss, lr, acc.batchIds);
    const t3 = performance.now();
    state.step += 1;
    state.sampler = shard.sampler.state();
    return {
      step: state.step,
      loss,
      lmLoss,
      clsLoss,
      learningRate: lr,
      stop,
      samples: acc.samples,
      tokens: acc.tokens,
      gradNorm,
      ms: {
        data: acc.dataMs,
        forwardBackward: acc.computeMs,
        allreduce: t2 - t1,
        optimizer: t3 - t2,
        total: t3 - t0,
      },
    };
  }

  /** Forward and backward over gradAccum micro-batches; their gradients summed into `grads`. */
  private async accumulate(state: RunState, shard: StepShard): Promise<Accumulated> {
    const { spec, model, params, batches } = this.o;
    const lambda = spec.task.clsWeight;
    const acc: Accumulated = {
      lmSum: 0,
      clsSum: 0,
      samples: 0,
      tokens: 0,
      batchIds: [],
      dataMs: 0,
      computeMs: 0,
    };
    this.grads.fill(0);
    for (let a = 0; a < spec.training.gradAccum; a++) {
      const t0 = performance.now();
      const loaded = await batches.load(shard.sampler);
      const t1 = performance.now();
      acc.dataMs += t1 - t0;
      const batch = batches.encode(loaded, state.step, state.thresholds);
      try {
        const dropoutSeed = deriveSeed(spec.training.seed, PURPOSE.dropout, state.step, a, shard.rank);
        let lm = 0;
        let cls = 0;
        const { value, grads } = tf.variableGrads(
          () => {
            const out = model.forward(batch, { training: true, dropoutSeed });
            const lmLoss = maskedCrossEntropy(out.logits, batch.targets, batch.lossMask);
            const clsLoss = maskedBce(out.clsLogits, batch.clsTargets, batch.clsMask);
            lm = lmLoss.dataSync()[0];
            cls = clsLoss.dataSync()[0];
            return lambda > 0 ? tf.add(lmLoss, tf.mul(clsLoss, lambda)) : lmLoss;
          },
          params.slots.map((s) => s.variable),
        );
        params.flattenGrads(grads, this.micro);
        for (let i = 0; i < this.grads.length; i++) this.grads[i] += this.micro[i];
        tf.dispose([value, ...Object.values(grads)]);
        acc.lmSum += lm;
        acc.clsSum += cls;
      } finally {
        acc.samples += batch.ids.length;
        acc.tokens += batch.tokens;
        acc.batchIds.push(...batch.ids);
        batch.dispose();
      }
      acc.computeMs += performance.now() - t1;
    }
    return acc;
  }

  /** Sums every rank's contribution; leaves the mean gradients in `grads` and returns the mean losses. */
  private async allReduce(
    acc: Accumulated,
    state: RunState,
    shard: StepShard,
  ): Promise<{ lmLoss: number; clsLoss: number; stop: boolean }> {
    const { spec, params, faults } = this.o;
    const n = params.size;
    const accum = spec.training.gradAccum;
    const buf = this.reduceBuf;
    for (let i = 0; i < n; i++) buf[i] = this.grads[i] / accum;
    buf[n] = acc.lmSum / accum;
    buf[n + 1] = acc.clsSum / accum;
    buf[n + 2] = this.o.stop.aborted ? 1 : 0;
    faults.beforeAllReduce(buf, { step: state.step, rank: shard.rank });
    await shard.collective.allReduceMany(bucketViews(buf, spec.collective.bucketBytes), "sum");
    const W = shard.worldSize;
    for (let i = 0; i < n; i++) this.grads[i] = buf[i] / W;
    return { lmLoss: buf[n] / W, clsLoss: buf[n + 1] / W, stop: buf[n + 2] > 0 };
  }

  /**
   * Clip and AdamW, or skip the update when the loss or a gradient is non-finite. A non-finite value
   * anywhere makes the reduced buffer non-finite on every rank, so all replicas decide the same way
   * without another round trip. Returns the gradient norm before clipping (undefined when skipped).
   */
  private update(
    state: RunState,
    rank: number,
    loss: number,
    lr: number,
    batchIds: string[],
  ): number | undefined {
    const { spec, params, faults, metrics, log } = this.o;
    if (!Number.isFinite(loss) || !allFinite(this.grads)) {
      state.nonFiniteInARow += 1;
      metrics.nonFinite.inc();
      log.warn("nonfinite_step_skipped", {
        step: state.step,
        loss,
        inARow: state.nonFiniteInARow,
        examples: batchIds,
      });
      if (state.nonFiniteInARow >= spec.training.maxNonFiniteSteps) {
        throw new TrainingFailure(
          `${state.nonFiniteInARow} consecutive steps had a non-finite loss or gradient (last at step ${state.step}, examples ${batchIds.join(", ")})`,
        );
      }
      return undefined;
    }
    state.nonFiniteInARow = 0;
    const norm = clipByGlobalNorm(this.grads, spec.training.clipNorm);
    params.read(this.flat);
    adamwStep(this.flat, this.grads, state.opt, lr, {
      ...ADAMW_DEFAULTS,
      weightDecay: spec.training.weightDecay,
    });
    faults.afterUpdate(this.flat, { step: state.step, rank });
    params.write(this.flat);
    return norm;
  }
}

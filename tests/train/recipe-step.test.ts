// The training step on the recipe's own tiny model: the loss it reports is the one a forward pass
// on its micro-batches gives, two ranks end bit-identical, the stop flag and the fault hooks travel
// through the all-reduce to every rank, and the progress reporter turns a step into metrics, a log
// line and a progress report.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import type { RunSpec } from "../../common/spec/index.js";
import type { Collective } from "../../trainer/collective/index.js";
import { ShardedSampler, type SamplerState } from "../../trainer/data/index.js";
import type { Progress } from "../../common/progress.js";
import { maskedBce, maskedCrossEntropy } from "../../trainer/train/losses.js";
import { TrainingFailure } from "../../trainer/train/recipe/failure.js";
import { injectedFaults, NO_FAULTS, type FaultHooks } from "../../trainer/train/recipe/faults.js";
import { ProgressReporter } from "../../trainer/train/recipe/progress.js";
import { freshRunState, type RunState } from "../../trainer/train/recipe/run-state.js";
import { TrainStep, type StepResult } from "../../trainer/train/recipe/step.js";
import { TrainBatches } from "../../trainer/train/recipe/train-batches.js";
import { deriveSeed, PURPOSE } from "../../trainer/train/rng.js";
import {
  localRanks,
  sampleOf,
  useSynthDataset,
  testSpec,
  tinyRecipe,
  type TinyRecipe,
} from "./recipe-fixture.js";

const data = useSynthDataset();

function batchesOf(r: TinyRecipe): TrainBatches {
  return new TrainBatches({ spec: r.spec, train: r.data.train, loadImages: r.loadImages, ...r.model });
}

function stepOf(
  r: TinyRecipe,
  faults: FaultHooks = NO_FAULTS,
  stop = new AbortController().signal,
): TrainStep {
  return new TrainStep({
    spec: r.spec,
    model: r.model.model,
    params: r.model.params,
    batches: batchesOf(r),
    totalSteps: r.model.totalSteps,
    faults,
    stop,
    metrics: r.metrics,
    log: r.log,
  });
}

function samplerOf(r: TinyRecipe, rank: number, worldSize: number, state: SamplerState): ShardedSampler {
  const { spec } = r;
  return new ShardedSampler({
    datasetSize: r.data.train.length,
    seed: spec.training.seed,
    rank,
    worldSize,
    batchSize: spec.training.batchSize,
    state,
  });
}

/** The LM and classification losses of each of this rank's micro-batches at `state`, computed here. */
async function handLosses(
  r: TinyRecipe,
  state: RunState,
  rank: number,
  worldSize: number,
): Promise<Array<{ lm: number; cls: number }>> {
  const batches = batchesOf(r);
  const sampler = samplerOf(r, rank, worldSize, state.sampler);
  const out = [];
  for (let a = 0; a < r.spec.training.gradAccum; a++) {
    const batch = batches.encode(await batches.load(sampler), state.step, state.thresholds);
    const dropoutSeed = deriveSeed(r.spec.training.seed, PURPOSE.dropout, state.step, a, rank);
    const [lm, cls] = tf.tidy(() => {
      const o = r.model.model.forward(batch, { training: true, dropoutSeed });
      return [
        maskedCrossEntropy(o.logits, batch.targets, batch.lossMask).dataSync()[0],
        maskedBce(o.clsLogits, batch.clsTargets, batch.clsMask).dataSync()[0],
      ];
    });
    batch.dispose();
    out.push({ lm, cls });
  }
  return out;
}

/** One step on every rank at once (rank r runs recipes[r]), from fresh states. */
async function stepAll(
  recipes: TinyRecipe[],
  collectives: Collective[],
  steps: TrainStep[],
  states: RunState[],
): Promise<StepResult[]> {
  const W = recipes.length;
  return Promise.all(
    recipes.map((r, rank) =>
      steps[rank].run(states[rank], {
        rank,
        worldSize: W,
        collective: collectives[rank],
        sampler: samplerOf(r, rank, W, states[rank].sampler),
      }),
    ),
  );
}

const fresh = (spec: RunSpec, r: TinyRecipe) => freshRunState(spec.training.seed, r.model.params.size);

describe("TrainStep", () => {
  it("on one rank: reports the loss of its micro-batch with its dropout seed and advances the state", async () => {
    const spec = testSpec(data.dir);
    const r = await tinyRecipe(spec);
    const ranks = await localRanks(1);
    try {
      const state = fresh(spec, r);
      const [hand] = await handLosses(r, state, 0, 1);
      const before = r.model.params.checksum();
      const [res] = await stepAll([r], ranks.collectives, [stepOf(r)], [state]);
      expect(res.lmLoss).toBeCloseTo(hand.lm, 6);
      expect(res.clsLoss).toBeCloseTo(hand.cls, 6);
      expect(res.loss).toBeCloseTo(hand.lm + spec.task.clsWeight * hand.cls, 6);
      // Warmup: the first of two warmup steps takes half the peak rate.
      expect(res.learningRate).toBeCloseTo(spec.training.learningRate / 2, 12);
      expect(res).toMatchObject({ step: 1, stop: false, samples: spec.training.batchSize });
      expect(res.gradNorm).toBeGreaterThan(0);
      expect(r.model.params.checksum()).not.toBe(before);
      expect(state).toMatchObject({ step: 1, nonFiniteInARow: 0, sampler: { epoch: 0, consumed: 2 } });
      expect(state.opt.t).toBe(1);
    } finally {
      await ranks.close();
    }
  });

  it("on two ranks with gradAccum 2: the mean loss of all four micro-batches, and bit-identical replicas", async () => {
    const spec = testSpec(data.dir, { training: { gradAccum: 2 } });
    const recipes = [await tinyRecipe(spec), await tinyRecipe(spec)];
    const ranks = await localRanks(2);
    try {
      const states = recipes.map((r) => fresh(spec, r));
      const hand = await Promise.all(recipes.map((r, rank) => handLosses(r, states[rank], rank, 2)));
      const meanOver = (f: (l: { lm: number; cls: number }) => number) =>
        hand.flat().reduce((s, l) => s + f(l), 0) / 4;
      const before = recipes[0].model.params.checksum();
      const res = await stepAll(
        recipes,
        ranks.collectives,
        recipes.map((r) => stepOf(r)),
        states,
      );
      expect(res[1].loss).toBe(res[0].loss);
      expect(res[0].lmLoss).toBeCloseTo(
        meanOver((l) => l.lm),
        5,
      );
      expect(res[0].clsLoss).toBeCloseTo(
        meanOver((l) => l.cls),
        5,
      );
      expect(res.map((x) => x.samples)).toEqual([4, 4]);
      const sums = recipes.map((r) => r.model.params.checksum());
      expect(sums[1]).toBe(sums[0]);
      expect(sums[0]).not.toBe(before);
      // Two micro-batches of a global batch of 4.
      expect(states.map((s) => s.sampler.consumed)).toEqual([8, 8]);
    } finally {
      await ranks.close();
    }
  });

  it("a stop asked on one rank stops every rank after the same step", async () => {
    const spec = testSpec(data.dir);
    const recipes = [await tinyRecipe(spec), await tinyRecipe(spec)];
    const ranks = await localRanks(2);
    try {
      const stop = new AbortController();
      stop.abort();
      const steps = [stepOf(recipes[0]), stepOf(recipes[1], NO_FAULTS, stop.signal)];
      const res = await stepAll(recipes, ranks.collectives, steps, [
        fresh(spec, recipes[0]),
        fresh(spec, recipes[1]),
      ]);
      expect(res.map((x) => x.stop)).toEqual([true, true]);
    } finally {
      await ranks.close();
    }
  });
});

describe("fault hooks", () => {
  it("fire only on their rank and steps", () => {
    const hooks = injectedFaults({
      nonFinite: { rank: 1, steps: [2, 5] },
      divergence: { rank: 0, steps: [3] },
    });
    const buf = new Float32Array([1, 2]);
    hooks.beforeAllReduce(buf, { step: 2, rank: 0 });
    hooks.beforeAllReduce(buf, { step: 3, rank: 1 });
    expect(Array.from(buf)).toEqual([1, 2]);
    hooks.beforeAllReduce(buf, { step: 5, rank: 1 });
    expect(Number.isNaN(buf[0])).toBe(true);
    const params = new Float32Array([1, 2]);
    hooks.afterUpdate(params, { step: 2, rank: 0 });
    expect(Array.from(params)).toEqual([1, 2]);
    hooks.afterUpdate(params, { step: 3, rank: 0 });
    expect(params[0]).toBe(Math.fround(1 + 1e-3));
    expect(params[1]).toBe(2);
  });

  it("a NaN on one rank skips the step on every rank; too many in a row fail the run", async () => {
    const spec = testSpec(data.dir, { training: { maxNonFiniteSteps: 2 } });
    const recipes = [await tinyRecipe(spec), await tinyRecipe(spec)];
    const ranks = await localRanks(2);
    try {
      const faults = injectedFaults({ nonFinite: { rank: 1, steps: [0, 2, 3] } });
      const steps = recipes.map((r) => stepOf(r, faults));
      const states = recipes.map((r) => fresh(spec, r));
      const initial = recipes.map((r) => r.model.params.checksum());
      const skipped = await stepAll(recipes, ranks.collectives, steps, states);
      expect(skipped.map((x) => x.gradNorm)).toEqual([undefined, undefined]);
      expect(recipes.map((r) => r.model.params.checksum())).toEqual(initial);
      expect(states.map((s) => [s.step, s.nonFiniteInARow, s.opt.t])).toEqual([
        [1, 1, 0],
        [1, 1, 0],
      ]);
      for (const r of recipes) {
        expect(sampleOf(await r.registry.metrics(), "radfleet_train_nonfinite_steps_total")).toBe(1);
        expect(r.lines.find((l) => l.event === "nonfinite_step_skipped")).toMatchObject({
          step: 0,
          inARow: 1,
        });
      }
      // Step 1 is clean: the counter resets and the update happens.
      await stepAll(recipes, ranks.collectives, steps, states);
      expect(states.map((s) => s.nonFiniteInARow)).toEqual([0, 0]);
      expect(recipes[0].model.params.checksum()).not.toBe(initial[0]);
      // Steps 2 and 3 are poisoned: the second in a row fails on every rank.
      await stepAll(recipes, ranks.collectives, steps, states);
      const failed = await Promise.allSettled(
        steps.map((s, rank) =>
          s.run(states[rank], {
            rank,
            worldSize: 2,
            collective: ranks.collectives[rank],
            sampler: samplerOf(recipes[rank], rank, 2, states[rank].sampler),
          }),
        ),
      );
      for (const f of failed) {
        expect(f.status).toBe("rejected");
        const reason = (f as PromiseRejectedResult).reason as Error;
        expect(reason).toBeInstanceOf(TrainingFailure);
        expect(reason.message).toMatch(
          /^2 consecutive steps had a non-finite loss or gradient \(last at step 3, examples /,
        );
      }
    } finally {
      await ranks.close();
    }
  });

  it("a nudge after the update on one rank makes that replica differ by exactly the nudge", async () => {
    const spec = testSpec(data.dir);
    const recipes = [await tinyRecipe(spec), await tinyRecipe(spec)];
    const ranks = await localRanks(2);
    try {
      const faults = injectedFaults({ divergence: { rank: 1, steps: [0] } });
      await stepAll(
        recipes,
        ranks.collectives,
        recipes.map((r) => stepOf(r, faults)),
        recipes.map((r) => fresh(spec, r)),
      );
      const [p0, p1] = recipes.map((r) => r.model.params.read());
      expect(p1[0]).toBe(Math.fround(p0[0] + 1e-3));
      expect(p1.subarray(1)).toEqual(p0.subarray(1));
    } finally {
      await ranks.close();
    }
  });
});

describe("ProgressReporter", () => {
  it("turns a step into trainer metrics, a progress report on rank 0 and the step log line", async () => {
    const spec = testSpec(data.dir);
    const r = await tinyRecipe(spec);
    const ranks = await localRanks(1);
    try {
      const reports: Progress[] = [];
      const progress = new ProgressReporter({ reportProgress: (p) => reports.push(p) }, r.metrics, r.log, 6);
      expect(progress.last).toMatchObject({ step: 0, totalSteps: 6, learningRate: 0 });
      const [res] = await stepAll([r], ranks.collectives, [stepOf(r)], [fresh(spec, r)]);
      progress.stepDone(res, { rank: 0, worldSize: 1 });
      progress.stepDone(res, { rank: 1, worldSize: 1 }); // not rank 0: no report
      const text = await r.registry.metrics();
      expect(sampleOf(text, "radfleet_train_step")).toBe(1);
      expect(sampleOf(text, 'radfleet_train_loss{kind="total"}')).toBeCloseTo(res.loss, 6);
      expect(sampleOf(text, "radfleet_train_samples_total")).toBe(4);
      expect(sampleOf(text, 'radfleet_train_step_phase_seconds_count{phase="allreduce"}')).toBe(2);
      expect(sampleOf(text, "radfleet_train_grad_norm")).toBeCloseTo(res.gradNorm!, 4);
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({
        step: 1,
        totalSteps: 6,
        loss: res.loss,
        phase: "training",
      });
      const line = r.lines.find((l) => l.event === "step")!;
      expect(line).toMatchObject({ step: 1, loss: res.loss, lr: res.learningRate });
      expect(Object.keys(line.phasesMs as object)).toEqual([
        "data",
        "forwardBackward",
        "allreduce",
        "optimizer",
      ]);
      progress.evaluated({ rougeL: 0.25 }, 1, true);
      expect(reports[1]).toMatchObject({
        step: 1,
        loss: res.loss,
        evaluation: { rougeL: 0.25 },
        phase: "finished",
      });
      // A restarted process that evaluates at the run's last step without taking a step of its own
      // reports the run's step, not its own count.
      const restarted = new ProgressReporter({ reportProgress: (p) => reports.push(p) }, r.metrics, r.log, 6);
      restarted.evaluated({ rougeL: 0.25 }, 6, true);
      expect(reports[2]).toMatchObject({ step: 6, totalSteps: 6, phase: "finished" });
    } finally {
      await ranks.close();
    }
  });
});

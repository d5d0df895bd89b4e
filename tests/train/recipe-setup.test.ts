// Setup and the training micro-batches: the data splits and the run's length from the spec, setup
// mistakes as TrainingFailures, and the prompts each micro-batch carries (plain, the truth's findings
// table, or the head's at the current thresholds).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { synthesize, ShardedSampler } from "../../trainer/data/index.js";
import { tableFromLabels, tableFromProbs } from "../../trainer/findings/index.js";
import { TrainingFailure } from "../../trainer/train/recipe/failure.js";
import { loadRecipeData, setupModel, totalStepsOf } from "../../trainer/train/recipe/setup.js";
import { TrainBatches } from "../../trainer/train/recipe/train-batches.js";
import {
  recordingLogger,
  sampleOf,
  useSynthDataset,
  testMetrics,
  testSpec,
  tinyRecipe,
  type TinyRecipe,
} from "./recipe-fixture.js";

const data = useSynthDataset();

describe("setup", () => {
  it("splits the data set: all of train, at most maxSamples to evaluate, validate to tune only with tables", async () => {
    const { log, lines } = recordingLogger();
    const plain = await loadRecipeData(testSpec(data.dir, { evaluation: { maxSamples: 2 } }), log);
    expect(plain.train.length).toBeGreaterThan(4);
    expect(plain.train.every((e) => e.split === "train")).toBe(true);
    expect(plain.evaluate.map((e) => e.split)).toEqual(["validate", "validate"]);
    expect(plain.tune).toEqual([]);
    expect(lines.find((l) => l.event === "data_loaded")).toMatchObject({
      train: plain.train.length,
      evaluate: 2,
      evaluationSplit: "validate",
    });
    const tables = await loadRecipeData(
      testSpec(data.dir, { task: { findingsTable: "output" }, evaluation: { split: "test" } }),
      log,
    );
    expect(tables.evaluate.every((e) => e.split === "test")).toBe(true);
    expect(tables.tune.length).toBeGreaterThan(0);
    expect(tables.tune.every((e) => e.split === "validate")).toBe(true);
  });

  it("a data set without training examples is a TrainingFailure naming it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-recipe-empty-"));
    try {
      const path = join(dir, "data");
      await synthesize({
        out: path,
        studies: 6,
        seed: 1,
        difficulty: "easy",
        imageSize: 32,
        splitFractions: { train: 0, validate: 0.5, test: 0.5 },
      });
      const spec = testSpec(dir);
      const err = await loadRecipeData(spec, recordingLogger().log).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TrainingFailure);
      expect((err as Error).message).toBe(`data set ${path} has no training examples`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("builds the model with its parameters and run length; a contradictory spec is a TrainingFailure", async () => {
    const r = await tinyRecipe(testSpec(data.dir, { training: { steps: 9 } }));
    expect(r.model.totalSteps).toBe(9);
    expect(sampleOf(await r.registry.metrics(), "radfleet_train_total_steps")).toBe(9);
    expect(r.model.initialParams).toEqual(r.model.params.read());
    expect(r.model.seqLen).toBe(r.model.generator.maxPromptLength + r.spec.data.maxReportTokens + 1);
    expect(r.lines.find((l) => l.event === "model_ready")).toMatchObject({
      trainableParameters: r.model.params.size,
      sequenceLength: r.model.seqLen,
      totalSteps: 9,
      findingsTable: "none",
    });
    const bad = testSpec(data.dir, { model: { path: join(data.dir, "nowhere") } });
    const err = await setupModel(bad, r.data.train, r.log, testMetrics().metrics).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingFailure);
    expect((err as Error).message).toMatch(/spec\.model\.init is random but spec\.model\.path is set/);
  });

  it("counts the run's steps from steps, else epochs at full width, else the default 900", () => {
    expect(totalStepsOf(testSpec(data.dir, { training: { steps: 7 } }), 100)).toBe(7);
    const epochs = testSpec(data.dir, {
      training: { steps: undefined, epochs: 3, gradAccum: 2 },
      replicas: { max: 2 },
    });
    expect(epochs.training.steps).toBeUndefined();
    // 3 epochs of 100 examples, 2 replicas x batch 2 x 2 micro-batches per step.
    expect(totalStepsOf(epochs, 100)).toBe(Math.floor(300 / 8));
    expect(totalStepsOf(epochs, 1)).toBe(1);
    expect(totalStepsOf(testSpec(data.dir, { training: { steps: undefined } }), 100)).toBe(900);
  });
});

describe("TrainBatches", () => {
  function batchesOf(r: TinyRecipe): TrainBatches {
    return new TrainBatches({ spec: r.spec, train: r.data.train, loadImages: r.loadImages, ...r.model });
  }
  function sampler(r: TinyRecipe): ShardedSampler {
    return new ShardedSampler({
      datasetSize: r.data.train.length,
      seed: r.spec.training.seed,
      rank: 0,
      worldSize: 1,
      batchSize: r.spec.training.batchSize,
    });
  }
  /** Row j of the batch's token ids. */
  async function rows(r: TinyRecipe, teacherForcedStep: number, thresholds: number[]) {
    const batches = batchesOf(r);
    const loaded = await batches.load(sampler(r));
    const batch = batches.encode(loaded, teacherForcedStep, thresholds);
    try {
      const ids = batch.inputIds.arraySync();
      expect(batch.ids).toEqual(loaded.indices.map((i) => r.data.train[i].id));
      expect(batch.inputIds.shape).toEqual([loaded.indices.length, r.model.seqLen]);
      return { loaded, ids };
    } finally {
      batch.dispose();
    }
  }
  const startsWith = (row: number[], prefix: number[]) => expect(row.slice(0, prefix.length)).toEqual(prefix);

  it("without tables every sequence starts with the plain prompt, then the report", async () => {
    const r = await tinyRecipe(testSpec(data.dir));
    const { loaded, ids } = await rows(r, 0, []);
    const tok = r.model.model.tokenizer;
    loaded.indices.forEach((i, j) => {
      const report = tok.encode(r.data.train[i].report).slice(0, r.spec.data.maxReportTokens);
      startsWith(ids[j], [...r.model.generator.prompt, ...report, tok.eosId]);
    });
  });

  it("in prompt mode a teacher-forced prompt carries the truth's table, otherwise the head's at the thresholds", async () => {
    const forced = await tinyRecipe(
      testSpec(data.dir, { task: { findingsTable: "prompt", tableTeacherForcing: 1 } }),
    );
    const prompts = forced.model.generator.tablePrompts!;
    const a = await rows(forced, 3, new Array<number>(14).fill(0.5));
    a.loaded.indices.forEach((i, j) => {
      const e = forced.data.train[i];
      startsWith(a.ids[j], prompts.prompt(tableFromLabels(e.labels, e.report)));
    });

    const head = await tinyRecipe(
      testSpec(data.dir, { task: { findingsTable: "prompt", tableTeacherForcing: 0 } }),
    );
    for (const t of [0, 1]) {
      const thresholds = new Array<number>(14).fill(t);
      const b = await rows(head, 3, thresholds);
      const probs = head.model.generator.headProbs(b.loaded.images);
      b.loaded.indices.forEach((_, j) => {
        startsWith(b.ids[j], head.model.generator.tablePrompts!.prompt(tableFromProbs(probs[j], thresholds)));
      });
    }
  });
});

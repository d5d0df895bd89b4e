// Setup, once per process before any generation: the data splits, the model with its flat trainable
// parameters, the report generator, the one sequence length every batch is padded to, and the
// run's length in optimizer steps.
import { join } from "node:path";
import type { Logger } from "../../../common/log.js";
import type { RunSpec } from "../../../common/spec/index.js";
import { loadDataset, loadImage, type Example } from "../../data/index.js";
import { longestTables, renderTableText } from "../../findings/index.js";
import { countParameters, type VisionLanguageModel } from "../../model/index.js";
import type { TrainerMetrics } from "../metrics.js";
import { FlatParams } from "../params.js";
import { ReportGenerator } from "../report-generator.js";
import { buildRunModel, runModelBase, RunSetupError } from "../run-model.js";
import { TrainingFailure } from "./failure.js";

export interface RecipeData {
  /** The training split, in file order (the sampler shards it by index). */
  train: Example[];
  /** Reports generated and scored: spec.evaluation.split, at most maxSamples. */
  evaluate: Example[];
  /** Where the findings-table thresholds are tuned: validate, at most maxSamples; empty without tables. */
  tune: Example[];
}

export interface RecipeModel {
  model: VisionLanguageModel;
  params: FlatParams;
  /** The parameters as built, restored when a generation starts from scratch. */
  initialParams: Float32Array;
  generator: ReportGenerator;
  /** Tokens per training sequence: the longest prompt + the report budget + the end token. */
  seqLen: number;
  totalSteps: number;
}

export type ImageLoader = (examples: Example[]) => Promise<Float32Array[]>;

/** Steps when the spec sets neither steps nor epochs: the demo's (trainer/train/README.md says why). */
export const DEFAULT_STEPS = 900;

/** Optimizer steps of a run: spec.training.steps, or epochs over the training split at full width. */
export function totalStepsOf(spec: RunSpec, trainSize: number): number {
  if (spec.training.steps !== undefined) return spec.training.steps;
  if (spec.training.epochs !== undefined) {
    const perStep = spec.replicas.max * spec.training.batchSize * spec.training.gradAccum;
    return Math.max(1, Math.floor((spec.training.epochs * trainSize) / perStep));
  }
  return DEFAULT_STEPS;
}

export async function loadRecipeData(spec: RunSpec, log: Logger): Promise<RecipeData> {
  const dataset = await loadDataset({
    format: spec.data.format,
    root: spec.data.path,
    section: spec.data.section,
    views: spec.data.views,
  });
  const ofSplit = (split: string) =>
    dataset.examples.filter((e) => e.split === split).slice(0, spec.evaluation.maxSamples);
  const data: RecipeData = {
    train: dataset.examples.filter((e) => e.split === "train"),
    evaluate: ofSplit(spec.evaluation.split),
    tune: spec.task.findingsTable === "none" ? [] : ofSplit("validate"),
  };
  if (data.train.length === 0)
    throw new TrainingFailure(`data set ${spec.data.path} has no training examples`);
  log.info("data_loaded", {
    train: data.train.length,
    evaluate: data.evaluate.length,
    evaluationSplit: spec.evaluation.split,
    skipped: dataset.skipped,
  });
  return data;
}

export async function setupModel(
  spec: RunSpec,
  train: Example[],
  log: Logger,
  metrics: Pick<TrainerMetrics, "totalSteps">,
): Promise<RecipeModel> {
  let model: VisionLanguageModel;
  try {
    model = await buildRunModel(
      spec,
      train.map((e) => e.report),
    );
  } catch (err) {
    if (err instanceof RunSetupError) throw new TrainingFailure(err.message);
    throw err;
  }
  const params = new FlatParams(model.trainableVariables());
  const initialParams = params.read();
  const totalSteps = totalStepsOf(spec, train.length);
  metrics.totalSteps.set(totalSteps);

  const generator = new ReportGenerator(model, spec);
  const seqLen = generator.maxPromptLength + spec.data.maxReportTokens + 1;
  const tableMode = spec.task.findingsTable;
  const tok = model.tokenizer;
  if (tableMode !== "none" && tok.unkId >= 0) {
    const unknown = longestTables()
      .map(renderTableText)
      .filter((text) => tok.encode(text).includes(tok.unkId));
    if (unknown.length) log.warn("findings_table_unknown_words", { tables: unknown });
  }
  log.info("model_ready", {
    base: runModelBase(spec),
    nf4Layers: model.network.loraLayers().filter((l) => l.quantized !== null).length,
    trainableParameters: params.size,
    totalParameters: countParameters(model.config).total,
    sequenceLength: seqLen,
    findingsTable: tableMode,
    totalSteps,
  });
  return { model, params, initialParams, generator, seqLen, totalSteps };
}

/** Images at spec.data.imageSize, decoded once into the data set's cache directory. */
export function imageLoader(spec: RunSpec): ImageLoader {
  const opts = {
    size: spec.data.imageSize,
    cacheDir: spec.data.cacheDir ?? join(spec.data.path, ".cache"),
  };
  return (examples) => Promise.all(examples.map((e) => loadImage(e.imagePath!, opts)));
}

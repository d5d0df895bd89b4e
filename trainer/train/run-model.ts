// The model of a run, built the same way for training and for inference (`radfleet generate`):
// the tiny preset without a path uses the shipped base (models/tiny-base, made by `radfleet
// pretrain`); with model.init random (or no shipped base) a seeded random model whose word-level
// vocabulary covers the training reports (and the findings table's words when tables are written).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { RunSpec } from "../../common/spec/index.js";
import { tableVocabulary } from "../findings/index.js";
import { buildModel, TINY_BASE_DIR, type VisionLanguageModel } from "../model/index.js";

/** A setup mistake no restart can fix (the trainer exits with the permanent-failure code). */
export class RunSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunSetupError";
  }
}

/** trainReports: the training split's reports (they only matter for a random tiny model's vocabulary). */
export async function buildRunModel(spec: RunSpec, trainReports: string[]): Promise<VisionLanguageModel> {
  if (spec.model.init === "random" && spec.model.path) {
    throw new RunSetupError("spec.model.init is random but spec.model.path is set; unset one of them");
  }
  const shippedBase = usesShippedBase(spec);
  const tables = spec.task.findingsTable !== "none";
  const model = await buildModel({
    preset: spec.model.preset,
    path: spec.model.path ?? (shippedBase ? TINY_BASE_DIR : undefined),
    quantization: spec.model.quantization,
    lora: spec.model.lora,
    head: spec.model.head,
    seed: spec.training.seed,
    imageSize: spec.data.imageSize,
    corpus: [...trainReports, ...(tables ? [tableVocabulary()] : [])],
  });
  if (model.imageSize !== spec.data.imageSize) {
    throw new RunSetupError(
      `spec.data.imageSize is ${spec.data.imageSize} but the model's vision tower takes ${model.imageSize}x${model.imageSize} images`,
    );
  }
  return model;
}

/** Where the run's base weights come from, for its logs: a directory, or random initialisation. */
export function runModelBase(spec: RunSpec): string {
  if (spec.model.path) return spec.model.path;
  return usesShippedBase(spec) ? TINY_BASE_DIR : `random (preset ${spec.model.preset})`;
}

/** Whether the run fine-tunes the shipped tiny base (models/tiny-base). */
function usesShippedBase(spec: RunSpec): boolean {
  return (
    spec.model.init === "pretrained" &&
    spec.model.preset === "tiny" &&
    !spec.model.path &&
    existsSync(join(TINY_BASE_DIR, "config.json"))
  );
}

/** Whether building this run's model needs the training reports (a vocabulary made from them). */
export function modelNeedsCorpus(spec: RunSpec): boolean {
  return (
    (spec.model.preset === "tiny" || spec.model.preset === "small") &&
    !spec.model.path &&
    !usesShippedBase(spec)
  );
}

// The model part: a LLaVA-OneVision-style VLM with a multitask head (see vlm.ts, llava.ts).
export { buildModel, VlmModel, type ModelSpec, type Batch, type GenerateRequest } from "./vlm.js";
export { buildPrompt, DEFAULT_INSTRUCTION, type PromptOptions } from "./prompt.js";
export {
  buildWordLevelTokenizer,
  tokenizerFromJson,
  loadTokenizer,
  SPECIAL_TOKENS,
  type Tokenizer,
  type TokenizerJson,
} from "./tokenizer.js";
export {
  smallConfig,
  tinyConfig,
  realConfig,
  parseModelConfig,
  patchesPerSide,
  type ModelConfig,
  type VisionConfig,
  type TextConfig,
} from "./config.js";
export { readCheckpointDir, writeCheckpointDir, configJson, savedKey } from "./checkpoint-dir.js";
export {
  defaultNormalization,
  parsePreprocessorConfig,
  pipelineNormalization,
  pixelAffine,
  preprocessorConfigJson,
  siglipNormalization,
  type ImageNormalization,
} from "./image-normalization.js";
export {
  LlavaModel,
  canonicalKey,
  expectedShapes,
  randomWeights,
  type WeightMap,
  type KvCache,
} from "./llava.js";
export { countParameters } from "./parameter-count.js";
export { anyresLayout, selectBestResolution, type AnyresLayout } from "./anyres.js";

/** Where the shipped tiny base model lives (written by `radfleet pretrain`). */
export const TINY_BASE_DIR = new URL("../../models/tiny-base", import.meta.url).pathname;

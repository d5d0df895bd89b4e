// The model part: a LLaVA-OneVision-style VLM with a multitask head. build-model.ts builds it,
// vision-language-model.ts is what callers hold, llava-network.ts the network itself, built from
// the weight table (weight-table.ts).
export { buildModel, type ModelBuildOptions } from "./build-model.js";
export { VisionLanguageModel, type Batch, type GenerateRequest } from "./vision-language-model.js";
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
export { readCheckpointDir, writeCheckpointDir, configJson } from "./checkpoint-dir.js";
export { canonicalKey, savedKey } from "./hf-key-layout.js";
export {
  defaultNormalization,
  parsePreprocessorConfig,
  pipelineNormalization,
  pixelAffine,
  preprocessorConfigJson,
  siglipNormalization,
  type ImageNormalization,
} from "./image-normalization.js";
export { LlavaNetwork, type NetworkOptions, type ForwardOptions, type KvCache } from "./llava-network.js";
export {
  llavaWeightTable,
  expectedShapes,
  type LlavaWeightTable,
  type TensorSpec,
  type LinearSpec,
} from "./weight-table.js";
export { randomWeights } from "./weight-init.js";
export type { WeightMap } from "./weight-map.js";
export { countParameters } from "./parameter-count.js";
export { anyresLayout, selectBestResolution, type AnyresLayout } from "./anyres.js";

/** Where the shipped tiny base model lives (written by `radfleet pretrain`). */
export const TINY_BASE_DIR = new URL("../../models/tiny-base", import.meta.url).pathname;

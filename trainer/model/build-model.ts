// Builds the model a run asks for: a seeded random tiny or small preset, or a Hugging Face directory
// (weights, tokenizer, preprocessor settings), quantized and LoRA-wrapped as the options say.
import {
  modelDefaults,
  type HeadOptions,
  type LoraOptions,
  type ModelOptions,
  type QuantizationOptions,
} from "../../common/spec/index.js";
import { readCheckpointDir } from "./checkpoint-dir.js";
import { smallConfig, tinyConfig } from "./config.js";
import { defaultNormalization } from "./image-normalization.js";
import { LlavaNetwork, type NetworkOptions } from "./llava-network.js";
import { quantizeOnLoad } from "./linear-policy.js";
import { DEFAULT_TINY_VOCABULARY } from "./tiny-vocabulary.js";
import { buildWordLevelTokenizer, tokenizerFromJson } from "./tokenizer.js";
import { VisionLanguageModel } from "./vision-language-model.js";
import { randomWeights } from "./weight-init.js";

/** spec.model's options (the run spec defines and documents them) plus what a build needs besides. */
export interface ModelBuildOptions {
  /**
   * Also picks the pixels' normalisation when there is no preprocessor_config.json: tiny (and unset)
   * the data pipeline's own, the real presets SigLIP's 0.5 / 0.5.
   */
  preset?: ModelOptions["preset"];
  /**
   * A Hugging Face directory (config.json + safetensors + tokenizer.json, and preprocessor_config.json
   * whose image_mean / image_std the model converts the pipeline's pixels to); overrides the preset's weights.
   */
  path?: ModelOptions["path"];
  /** cacheDequantizedMiB may be left out: the run spec's default applies. */
  quantization: Omit<QuantizationOptions, "cacheDequantizedMiB"> &
    Partial<Pick<QuantizationOptions, "cacheDequantizedMiB">>;
  lora: LoraOptions;
  head: HeadOptions;
  /** The run's seed (training.seed): random weights, fresh adapters and head. */
  seed: number;
  /**
   * Side of the square images the model is given (the run's data.imageSize). The tiny preset builds
   * its tower at this size (default 64). A checkpoint with image_grid_pinpoints takes any size and
   * tiles it as transformers' processor would (e.g. 2×2 tiles for 768 at a 384 tower); one without
   * takes its tower's image_size only. Unset: the tower's image_size.
   */
  imageSize?: number;
  /** Every weight a float variable and no LoRA: pretraining the tiny base (`radfleet pretrain`). */
  trainBase?: boolean;
  /** tokenizer.json for a preset built without a path (e.g. buildWordLevelTokenizer over the corpus). */
  tokenizerJson?: object;
  /** Or texts to build the tiny preset's word-level vocabulary from (with the built-in words). */
  corpus?: string[];
}

/** The network's options from the build options, the schema's defaults filling what was left out. */
export function networkOptions(o: ModelBuildOptions): NetworkOptions {
  const cacheDequantizedMiB =
    o.quantization.cacheDequantizedMiB ?? modelDefaults().quantization.cacheDequantizedMiB;
  return {
    quantization: { ...o.quantization, cacheDequantizedMiB },
    lora: o.lora,
    pooling: o.head.pooling,
    seed: o.seed,
    trainBase: o.trainBase === true,
  };
}

/** Builds the model: random seeded weights for a preset without a path, else the directory's weights. */
export async function buildModel(o: ModelBuildOptions): Promise<VisionLanguageModel> {
  const opts = networkOptions(o);
  const identity = { lora: o.lora, baseModel: o.path ?? o.preset ?? "tiny", imageSize: o.imageSize };
  if (o.path) {
    const dir = await readCheckpointDir(o.path, { quantize: quantizeOnLoad(opts) });
    const imageNormalization =
      dir.preprocessor?.normalization ??
      defaultNormalization(o.preset, dir.config.vision_config.num_channels);
    if (!dir.tokenizerJson && !o.tokenizerJson)
      throw new Error(
        `${o.path}: no tokenizer.json; copy the checkpoint's tokenizer.json next to its config.json`,
      );
    const tokJson = dir.tokenizerJson ?? o.tokenizerJson!;
    const tok = tokenizerFromJson(tokJson, `${o.path}/tokenizer.json`);
    const network = new LlavaNetwork(dir.config, dir.weights, { ...opts, imageNormalization }, o.path);
    return new VisionLanguageModel(network, tok, tokJson, identity, dir.preprocessor?.json ?? null);
  }
  const preset = o.preset ?? "tiny";
  if (preset !== "tiny" && preset !== "small") {
    throw new Error(
      `model preset ${preset}: random initialisation is only for "tiny" and "small"; set model.path to a downloaded llava-hf/${preset}-ov-hf directory`,
    );
  }
  const tokJson = o.tokenizerJson ?? buildWordLevelTokenizer([DEFAULT_TINY_VOCABULARY, ...(o.corpus ?? [])]);
  const tok = tokenizerFromJson(tokJson, "tiny tokenizer");
  const config =
    preset === "small"
      ? smallConfig(tok.vocabSize, o.imageSize ?? 128)
      : tinyConfig(tok.vocabSize, o.imageSize ?? 64);
  config.image_token_index = tok.imageTokenId;
  const imageNormalization = defaultNormalization(preset, config.vision_config.num_channels);
  const network = new LlavaNetwork(
    config,
    randomWeights(config, o.seed),
    { ...opts, imageNormalization },
    `${preset} preset`,
  );
  return new VisionLanguageModel(network, tok, tokJson, identity);
}

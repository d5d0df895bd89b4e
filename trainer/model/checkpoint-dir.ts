// A Hugging Face style model directory: config.json, model.safetensors or shards listed in
// model.safetensors.index.json, tokenizer.json, preprocessor_config.json (the pixels' normalisation,
// see image-normalization.ts). Keys are mapped to radfleet's canonical names on
// read (both LLaVA layouts); on write the layout transformers itself saves is used.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  INDEX_FILE,
  SINGLE_FILE,
  ShardedCheckpoint,
  loadQuantizedLinear,
  quantizeNf4,
  writeSafetensors,
  type Nf4QuantizeOptions,
} from "../qlora/index.js";
import { parseModelConfig, type ModelConfig } from "./config.js";
import {
  parsePreprocessorConfig,
  preprocessorConfigJson,
  type ImageNormalization,
} from "./image-normalization.js";
import { canonicalKey, savedKey } from "./hf-key-layout.js";
import type { WeightMap } from "./weight-map.js";
import { pathExists, writeFileAtomic } from "../../common/fs.js";

export interface CheckpointDir {
  config: ModelConfig;
  weights: WeightMap;
  /** tokenizer.json's parsed content, when the directory has one. */
  tokenizerJson: object | null;
  /** preprocessor_config.json, when the directory has one: its normalisation and its whole content. */
  preprocessor: { normalization: ImageNormalization; json: Record<string, unknown> } | null;
}

const IGNORED = /^model\.vision_tower\.vision_model\.head\./;

/** bitsandbytes 4-bit parameters: `W.weight` holds packed codes, its state sits in `W.weight.<part>`. */
const BNB_STATE = /\.quant_state\.bitsandbytes__nf4$/;
const BNB_PART =
  /^(.*\.weight)\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\.bitsandbytes__(?:nf4|fp4))$/;

export interface ReadOptions {
  /**
   * Which float weights to quantize to NF4 as they are read (given the directory's config, by
   * canonical name and shape), and how: each is held in float32 only until it is quantized, so
   * loading a 7B base never holds the whole model in float32. Null or absent: kept as read.
   */
  quantize?: (config: ModelConfig) => (name: string, shape: number[]) => Nf4QuantizeOptions | null;
}

export async function readCheckpointDir(dir: string, o: ReadOptions = {}): Promise<CheckpointDir> {
  const configPath = join(dir, "config.json");
  if (!(await pathExists(configPath)))
    throw new Error(`${dir}: no config.json; expected a Hugging Face model directory`);
  const config = parseModelConfig(
    JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>,
    configPath,
  );
  // Before the weights: a malformed file fails fast.
  const prePath = join(dir, "preprocessor_config.json");
  let preprocessor: CheckpointDir["preprocessor"] = null;
  if (await pathExists(prePath)) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(prePath, "utf8"));
    } catch (e) {
      throw new Error(`${prePath}: not valid JSON: ${(e as Error).message}`);
    }
    const normalization = parsePreprocessorConfig(json, config.vision_config.num_channels, prePath);
    preprocessor = { normalization, json: json as Record<string, unknown> };
  }
  if (!(await pathExists(join(dir, INDEX_FILE))) && !(await pathExists(join(dir, SINGLE_FILE))))
    throw new Error(
      `${dir}: neither ${SINGLE_FILE} nor ${INDEX_FILE}; convert .bin checkpoints to safetensors first`,
    );
  // Headers only; tensors are read one at a time (the index and the shards' headers are checked
  // against each other, and shards must sit in this directory).
  const ck = await ShardedCheckpoint.open(dir);
  const weights: WeightMap = new Map();
  const quantize = o.quantize?.(config);
  try {
    for (const shard of ck.shards) {
      const path = join(dir, shard);
      const keys = ck.shard(shard).keys();
      const bnbState = new Set(keys.filter((k) => BNB_STATE.test(k)).map((k) => k.replace(BNB_STATE, "")));
      for (const key of keys) {
        // transformers loads what the index lists, each from the shard it names.
        if (!ck.has(key) || ck.shardOf(key) !== shard) continue;
        const base = BNB_PART.exec(key)?.[1];
        if (base !== undefined && bnbState.has(base)) continue; // read with its weight below
        const name = canonicalKey(key);
        // The SigLIP pooling head exists in towers saved with vision_use_head; LLaVA never runs it.
        if (IGNORED.test(name)) continue;
        if (weights.has(name))
          throw new Error(`${path}: ${key} maps to ${name}, which another key already provided`);
        if (bnbState.has(key)) {
          // Already 4-bit (radfleet quantize, or transformers with bitsandbytes): kept as stored.
          const nf4 = (await loadQuantizedLinear(ck, key))!;
          weights.set(name, { shape: nf4.shape, data: new Float32Array(0), nf4, sourceKey: key });
          continue;
        }
        const shape = ck.info(key).shape;
        const data = await ck.readFloat32(key);
        const q = quantize?.(name, shape) ?? null;
        if (q)
          weights.set(name, {
            shape,
            data: new Float32Array(0),
            nf4: quantizeNf4(data, shape, q),
            sourceKey: key,
          });
        else weights.set(name, { shape, data, sourceKey: key });
      }
    }
  } finally {
    await ck.close();
  }
  const tokPath = join(dir, "tokenizer.json");
  const tokenizerJson = (await pathExists(tokPath))
    ? (JSON.parse(await readFile(tokPath, "utf8")) as object)
    : null;
  return { config, weights, tokenizerJson, preprocessor };
}

/** config.json as transformers writes it for LlavaOnevisionForConditionalGeneration, plus radfleet's head size. */
export function configJson(c: ModelConfig): Record<string, unknown> {
  return {
    architectures: ["LlavaOnevisionForConditionalGeneration"],
    model_type: "llava_onevision",
    image_token_index: c.image_token_index,
    vision_feature_layer: c.vision_feature_layer,
    vision_feature_select_strategy: c.vision_feature_select_strategy,
    projector_hidden_act: c.projector_hidden_act,
    image_grid_pinpoints: c.image_grid_pinpoints,
    vision_aspect_ratio: c.vision_aspect_ratio,
    tie_word_embeddings: c.text_config.tie_word_embeddings,
    vision_config: {
      model_type: "siglip_vision_model",
      hidden_act: "gelu_pytorch_tanh",
      vision_use_head: false,
      ...c.vision_config,
    },
    text_config: { model_type: "qwen2", hidden_act: "silu", ...c.text_config },
    radfleet: c.radfleet,
  };
}

/**
 * Writes the directory readCheckpointDir reads: weights in transformers' saved layout, tokenizer.json
 * when given, preprocessor_config.json with the normalisation the model uses (over `preprocessor`,
 * the source checkpoint's own settings, when it had them), config.json last.
 */
export async function writeCheckpointDir(
  dir: string,
  config: ModelConfig,
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>,
  tokenizerJson: object | null,
  normalization: ImageNormalization,
  preprocessor: Record<string, unknown> | null = null,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(
    join(dir, "model.safetensors"),
    tensors.map((t) => ({ name: savedKey(t.name), dtype: "F32" as const, shape: t.shape, data: t.data })),
    { format: "pt" },
  );
  if (tokenizerJson)
    await writeFileAtomic(join(dir, "tokenizer.json"), Buffer.from(JSON.stringify(tokenizerJson)));
  await writeFileAtomic(
    join(dir, "preprocessor_config.json"),
    Buffer.from(JSON.stringify(preprocessorConfigJson(config, normalization, preprocessor), null, 2)),
  );
  // config.json last: a directory with a config is a complete one.
  await writeFileAtomic(join(dir, "config.json"), Buffer.from(JSON.stringify(configJson(config), null, 2)));
}

// A Hugging Face style model directory: config.json, model.safetensors or shards listed in
// model.safetensors.index.json, tokenizer.json, preprocessor_config.json (the pixels' normalisation,
// see image-normalization.ts). Keys are mapped to radfleet's canonical names on
// read (both LLaVA layouts); on write the layout transformers itself saves is used.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { NF4_CODEBOOK, SafetensorsFile, writeSafetensors, type Nf4Tensor } from "../qlora/index.js";
import { writeFileAtomic } from "../checkpoint/directory-store.js";
import { parseModelConfig, type ModelConfig } from "./config.js";
import {
  parsePreprocessorConfig,
  preprocessorConfigJson,
  type ImageNormalization,
} from "./image-normalization.js";
import { canonicalKey, type WeightMap } from "./llava.js";
import { pathExists } from "../../common/fs.js";

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

/**
 * One NF4 weight as bitsandbytes saves it (QuantState.as_dict(packed=True)): packed codes [n/2, 1]
 * (first element in the high nibble), absmax per block (float32, or 8-bit codes when double
 * quantized: nested_quant_map[code] · nested_absmax[block / nested_blocksize] + nested_offset),
 * and a JSON header with quant_type, blocksize, shape, nested_blocksize, nested_offset.
 */
async function readBnbNf4(file: SafetensorsFile, key: string, path: string): Promise<Nf4Tensor> {
  const where = `${path}: ${key}`;
  const header = JSON.parse(
    Buffer.from(await file.readRaw(`${key}.quant_state.bitsandbytes__nf4`)).toString("utf8"),
  ) as {
    quant_type?: string;
    blocksize?: number;
    shape?: number[];
    nested_blocksize?: number;
    nested_offset?: number;
  };
  if (header.quant_type !== "nf4")
    throw new Error(`${where}: quant_type ${JSON.stringify(header.quant_type)}, radfleet reads nf4 only`);
  const shape = header.shape ?? [];
  const blockSize = header.blocksize ?? 64;
  const n = shape.reduce((a, b) => a * b, 1);
  const packed = await file.readRaw(key);
  if (file.info(key).dtype !== "U8" || packed.length !== Math.ceil(n / 2)) {
    throw new Error(
      `${where}: expected ${Math.ceil(n / 2)} packed uint8 codes for shape [${shape.join(", ")}], got ${packed.length} ${file.info(key).dtype}`,
    );
  }
  const quantMap = await file.readFloat32(`${key}.quant_map`);
  if (quantMap.length !== 16 || quantMap.some((v, i) => Math.abs(v - NF4_CODEBOOK[i]) > 1e-6)) {
    throw new Error(`${where}.quant_map is not the NF4 codebook`);
  }
  const blocks = Math.ceil(n / blockSize);
  let absmax: Float32Array;
  const absmaxInfo = file.info(`${key}.absmax`);
  if (absmaxInfo.dtype === "U8") {
    const code = await file.readRaw(`${key}.absmax`);
    const absmax2 = await file.readFloat32(`${key}.nested_absmax`);
    const map = await file.readFloat32(`${key}.nested_quant_map`);
    const bs2 = header.nested_blocksize ?? 256;
    const offset = Math.fround(header.nested_offset ?? 0);
    absmax = new Float32Array(blocks);
    for (let i = 0; i < blocks; i++)
      absmax[i] = Math.fround(Math.fround(map[code[i]] * absmax2[Math.floor(i / bs2)]) + offset);
    return { shape, blockSize, packed, absmax, doubleQuant: { code, absmax2, offset, blockSize2: bs2 } };
  }
  absmax = await file.readFloat32(`${key}.absmax`);
  if (absmax.length !== blocks)
    throw new Error(`${where}.absmax: expected ${blocks} values, got ${absmax.length}`);
  return { shape, blockSize, packed, absmax };
}

export async function readCheckpointDir(dir: string): Promise<CheckpointDir> {
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
  let files: string[];
  const indexPath = join(dir, "model.safetensors.index.json");
  if (await pathExists(indexPath)) {
    const index = JSON.parse(await readFile(indexPath, "utf8")) as { weight_map?: Record<string, string> };
    if (!index.weight_map) throw new Error(`${indexPath}: expected a weight_map object`);
    files = [...new Set(Object.values(index.weight_map))].sort();
  } else if (await pathExists(join(dir, "model.safetensors"))) {
    files = ["model.safetensors"];
  } else {
    throw new Error(
      `${dir}: neither model.safetensors nor model.safetensors.index.json; convert .bin checkpoints to safetensors first`,
    );
  }
  const weights: WeightMap = new Map();
  for (const f of files) {
    const path = join(dir, f);
    const file = await SafetensorsFile.open(path);
    try {
      const keys = file.keys();
      const bnbState = new Set(keys.filter((k) => BNB_STATE.test(k)).map((k) => k.replace(BNB_STATE, "")));
      for (const key of keys) {
        const base = BNB_PART.exec(key)?.[1];
        if (base !== undefined && bnbState.has(base)) continue; // read with its weight below
        const name = canonicalKey(key);
        // The SigLIP pooling head exists in towers saved with vision_use_head; LLaVA never runs it.
        if (IGNORED.test(name)) continue;
        if (weights.has(name))
          throw new Error(`${path}: ${key} maps to ${name}, which another key already provided`);
        if (bnbState.has(key)) {
          const nf4 = await readBnbNf4(file, key, path);
          weights.set(name, { shape: nf4.shape, data: new Float32Array(0), nf4, sourceKey: key });
        } else {
          weights.set(name, {
            shape: file.info(key).shape,
            data: await file.readFloat32(key),
            sourceKey: key,
          });
        }
      }
    } finally {
      await file.close();
    }
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

/** Canonical name → the layout transformers saves (`language_model.model.…`, `vision_tower.vision_model.…`). */
export function savedKey(name: string): string {
  if (name.startsWith("model.language_model."))
    return `language_model.model.${name.slice("model.language_model.".length)}`;
  if (name === "lm_head.weight") return "language_model.lm_head.weight";
  if (name.startsWith("model.")) return name.slice("model.".length);
  return name;
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

// Quantizes a model directory for `radfleet quantize` (cli/commands/quantize.ts): reads a Hugging Face model directory (config.json plus
// model.safetensors or shards listed by model.safetensors.index.json), quantizes the linear layers'
// weights to NF4 and writes them in bitsandbytes' serialized form (see bnb-format.ts), shard by
// shard, keeping every other tensor as it was. config.json gains a transformers-style
// `quantization_config`. The trainer loads the result with `loadQuantizedLinear`, without
// quantizing again.
import { copyFile, mkdir, readFile, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { isBnbStateKey, nf4ToBnbTensors, torchName } from "./bnb-format.js";
import { nf4BitsPerParameter, quantizeNf4 } from "./nf4.js";
import { writeSafetensors, type TensorData, type TensorInfo } from "./safetensors.js";
import { INDEX_FILE, ShardedCheckpoint } from "./sharded-checkpoint.js";
import { pathExists, writeFileAtomic } from "../../common/fs.js";

export const DEFAULT_SKIP = ["lm_head", "embed", "norm", "classifier", "head"];

export interface QuantizeOptions {
  inDir: string;
  outDir: string;
  blockSize: number;
  doubleQuant: boolean;
  skip: string[];
}

export interface QuantizeSummary {
  quantizedTensors: number;
  quantizedParameters: number;
  /** Data bytes of the quantized weights' codes and block scales (absmax and nested absmax). */
  codeAndScaleBytes: number;
  /** Data bytes of per-tensor constants: quant_map, nested_quant_map and the packed state. */
  tableBytes: number;
  keptTensors: number;
  keptBytes: number;
  /** Sum of the safetensors files' sizes, headers included. */
  bytesBefore: number;
  bytesAfter: number;
  /** Bits per quantized parameter from codes and scales, and with the per-tensor tables too. */
  bitsPerParameter: number;
  bitsPerParameterWithTables: number;
  /** The figure the format promises (4.127 for blocks of 64 with double quantization). */
  nominalBitsPerParameter: number;
}

function shouldQuantize(name: string, info: TensorInfo, skip: string[]): boolean {
  if (!name.endsWith(".weight") || info.shape.length !== 2) return false;
  if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16") return false;
  const segments = name.slice(0, -".weight".length).split(".");
  return !segments.some((s) => skip.some((p) => s.includes(p)));
}

export async function quantizeModelDir(o: QuantizeOptions): Promise<QuantizeSummary> {
  const inDir = resolve(o.inDir);
  const outDir = resolve(o.outDir);
  if (inDir === outDir)
    throw new Error(
      `quantize: --out must differ from --in (${inDir}); the input is read while the output is written`,
    );
  const configPath = join(inDir, "config.json");
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new Error(
      `${configPath}: cannot read the model config (${(err as Error).message}); --in must be a Hugging Face model directory`,
    );
  }
  if (config.quantization_config)
    throw new Error(`${configPath}: the model is already quantized (quantization_config is set)`);
  const ckpt = await ShardedCheckpoint.open(inDir);
  await mkdir(outDir, { recursive: true });
  const s: QuantizeSummary = {
    quantizedTensors: 0,
    quantizedParameters: 0,
    codeAndScaleBytes: 0,
    tableBytes: 0,
    keptTensors: 0,
    keptBytes: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    bitsPerParameter: 0,
    bitsPerParameterWithTables: 0,
    nominalBitsPerParameter: nf4BitsPerParameter(o.blockSize, o.doubleQuant),
  };
  const weightMap: Record<string, string> = {};
  let totalData = 0;
  try {
    for (const shardName of ckpt.shards) {
      const shard = ckpt.shard(shardName);
      s.bytesBefore += (await stat(join(inDir, shardName))).size;
      const out: TensorData[] = [];
      // One tensor read at a time; the output shard (about a quarter of the input's quantized part)
      // is assembled in memory and written atomically.
      for (const name of shard.keys()) {
        const info = shard.info(name);
        if (isBnbStateKey(name))
          throw new Error(
            `${join(inDir, shardName)}: ${name} is bitsandbytes state; the model is already quantized`,
          );
        if (shouldQuantize(name, info, o.skip)) {
          const q = quantizeNf4(await shard.readFloat32(name), info.shape, {
            blockSize: o.blockSize,
            doubleQuant: o.doubleQuant,
          });
          const tensors = nf4ToBnbTensors(name, q, torchName(info.dtype));
          for (const t of tensors) {
            const scale = t.name === name || /\.(absmax|nested_absmax)$/.test(t.name);
            if (scale) s.codeAndScaleBytes += t.data.byteLength;
            else s.tableBytes += t.data.byteLength;
          }
          s.quantizedTensors++;
          s.quantizedParameters += info.shape[0] * info.shape[1];
          out.push(...tensors);
        } else {
          out.push({ name, dtype: info.dtype, shape: info.shape, data: await shard.readRaw(name) });
          s.keptTensors++;
          s.keptBytes += info.byteLength;
        }
      }
      const meta = { ...shard.metadata(), format: shard.metadata().format ?? "pt" };
      await writeSafetensors(join(outDir, shardName), out, meta);
      s.bytesAfter += (await stat(join(outDir, shardName))).size;
      for (const t of out) {
        weightMap[t.name] = shardName;
        totalData += t.data.byteLength;
      }
    }
  } finally {
    await ckpt.close();
  }
  if (ckpt.shards.length > 1 || (await pathExists(join(inDir, INDEX_FILE)))) {
    const index = { metadata: { total_size: totalData }, weight_map: weightMap };
    await writeFileAtomic(
      join(outDir, INDEX_FILE),
      new TextEncoder().encode(JSON.stringify(index, null, 2) + "\n"),
    );
  }
  // transformers' BitsAndBytesConfig fields, so the directory also loads there.
  config.quantization_config = {
    quant_method: "bitsandbytes",
    load_in_4bit: true,
    load_in_8bit: false,
    bnb_4bit_quant_type: "nf4",
    bnb_4bit_use_double_quant: o.doubleQuant,
    bnb_4bit_compute_dtype: "float32",
    bnb_4bit_quant_storage: "uint8",
    llm_int8_skip_modules: o.skip,
    radfleet_block_size: o.blockSize,
  };
  await writeFileAtomic(
    join(outDir, "config.json"),
    new TextEncoder().encode(JSON.stringify(config, null, 2) + "\n"),
  );
  // Tokenizer, generation config and the like travel unchanged.
  for (const entry of await readdir(inDir, { withFileTypes: true })) {
    if (
      !entry.isFile() ||
      entry.name === "config.json" ||
      entry.name === INDEX_FILE ||
      entry.name.endsWith(".safetensors")
    )
      continue;
    await copyFile(join(inDir, entry.name), join(outDir, entry.name));
  }
  if (s.quantizedParameters > 0) {
    s.bitsPerParameter = (s.codeAndScaleBytes * 8) / s.quantizedParameters;
    s.bitsPerParameterWithTables = ((s.codeAndScaleBytes + s.tableBytes) * 8) / s.quantizedParameters;
  }
  return s;
}

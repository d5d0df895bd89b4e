// bitsandbytes' serialized form of an NF4 weight (Params4bit + QuantState.as_dict(packed=True)), as
// transformers saves a 4-bit model, so a directory written by `radfleet quantize` holds the same
// keys and codes bitsandbytes would. For a linear layer's weight key `<m>.weight`:
//   <m>.weight                                   U8  [ceil(n/2), 1]  two codes per byte, high nibble first
//   <m>.weight.absmax                            F32 [blocks]        (U8 codes with double quantization)
//   <m>.weight.quant_map                         F32 [16]            the NF4 codebook
//   <m>.weight.nested_absmax                     F32 [ceil(blocks/256)]   (double quantization only)
//   <m>.weight.nested_quant_map                  F32 [256]           the signed dynamic map (idem)
//   <m>.weight.quant_state.bitsandbytes__nf4     U8  [len]           UTF-8 bytes of json.dumps of
//       {"quant_type", "blocksize", "dtype", "shape"[, "nested_blocksize", "nested_dtype", "nested_offset"]}
// (Format facts from bitsandbytes' functional.QuantState.as_dict / from_dict and utils.pack_dict_to_tensor.)
import { NF4_CODEBOOK, dynamicMap8bit, type Nf4Tensor } from "./nf4.js";
import type { ShardedCheckpoint } from "./sharded-checkpoint.js";
import type { DType, SafetensorsFile, TensorData } from "./safetensors.js";

export const BNB_STATE_SUFFIX = "quant_state.bitsandbytes__nf4";
/** Suffixes (after `<m>.weight.`) of the tensors that carry a 4-bit weight's quantization state. */
export const BNB_AUX_SUFFIXES = [
  "absmax",
  "quant_map",
  "nested_absmax",
  "nested_quant_map",
  BNB_STATE_SUFFIX,
];

/** True for a key that is part of a bitsandbytes 4-bit state rather than a tensor of its own. */
export function isBnbStateKey(key: string): boolean {
  return (
    BNB_AUX_SUFFIXES.some((s) => key.endsWith(`.weight.${s}`)) ||
    /\.quant_state\.bitsandbytes__\w+$/.test(key)
  );
}

/** torch dtype names as bitsandbytes writes them (`str(dtype).strip("torch.")`). */
export type TorchFloatName = "float32" | "float16" | "bfloat16";

export function torchName(dtype: DType): TorchFloatName {
  if (dtype === "F16") return "float16";
  if (dtype === "BF16") return "bfloat16";
  return "float32";
}

/** A number as Python's repr writes a float (json.dumps uses it): `0.0`, `1e-05`, `0.0123`. */
export function pythonFloatRepr(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  // toExponential() without digits gives the shortest round-trip digits, as Python's repr does.
  const [mant, expStr] = v.toExponential().split("e");
  const exp = Number(expStr);
  const neg = mant.startsWith("-");
  const digits = mant.replace("-", "").replace(".", "");
  const sign = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || "0"}`;
}

type PyValue = string | number | { float: number } | PyValue[];

/** json.dumps with Python's default separators; `{float: x}` marks a value Python holds as a float. */
export function pythonJsonDumps(entries: Array<[string, PyValue]>): string {
  const val = (v: PyValue): string => {
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "number") return String(v);
    if (Array.isArray(v)) return `[${v.map(val).join(", ")}]`;
    return pythonFloatRepr(v.float);
  };
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${val(v)}`).join(", ")}}`;
}

/** The tensors bitsandbytes saves for one 4-bit weight; `key` is the weight's key (`<m>.weight`). */
export function nf4ToBnbTensors(key: string, q: Nf4Tensor, originalDtype: TorchFloatName): TensorData[] {
  const n = q.shape.reduce((a, b) => a * b, 1);
  const entries: Array<[string, PyValue]> = [
    ["quant_type", "nf4"],
    ["blocksize", q.blockSize],
    ["dtype", originalDtype],
    ["shape", [...q.shape]],
  ];
  const out: TensorData[] = [{ name: key, dtype: "U8", shape: [Math.ceil(n / 2), 1], data: q.packed }];
  if (q.doubleQuant) {
    const dq = q.doubleQuant;
    out.push(
      { name: `${key}.absmax`, dtype: "U8", shape: [dq.code.length], data: dq.code },
      { name: `${key}.quant_map`, dtype: "F32", shape: [16], data: NF4_CODEBOOK },
      { name: `${key}.nested_absmax`, dtype: "F32", shape: [dq.absmax2.length], data: dq.absmax2 },
      { name: `${key}.nested_quant_map`, dtype: "F32", shape: [256], data: dynamicMap8bit() },
    );
    entries.push(
      ["nested_blocksize", dq.blockSize2],
      ["nested_dtype", "float32"],
      ["nested_offset", { float: dq.offset }],
    );
  } else {
    out.push(
      { name: `${key}.absmax`, dtype: "F32", shape: [q.absmax.length], data: q.absmax },
      { name: `${key}.quant_map`, dtype: "F32", shape: [16], data: NF4_CODEBOOK },
    );
  }
  const state = new TextEncoder().encode(pythonJsonDumps(entries));
  out.push({ name: `${key}.${BNB_STATE_SUFFIX}`, dtype: "U8", shape: [state.length], data: state });
  return out;
}

type TensorSource = Pick<SafetensorsFile | ShardedCheckpoint, "keys" | "info" | "readRaw" | "readFloat32">;

function fail(key: string, what: string): never {
  throw new Error(`bitsandbytes state of ${key}: ${what}`);
}

/**
 * Loads a 4-bit weight saved in bitsandbytes' format (by `radfleet quantize` or by transformers)
 * without quantizing again. `name` is the weight key (`<m>.weight`) or the module path (`<m>`).
 * Returns null when the file holds no 4-bit state for it (a float weight).
 */
export async function loadQuantizedLinear(file: TensorSource, name: string): Promise<Nf4Tensor | null> {
  const keys = new Set(file.keys());
  const key = name.endsWith(".weight") || !keys.has(`${name}.weight`) ? name : `${name}.weight`;
  const stateKey = `${key}.${BNB_STATE_SUFFIX}`;
  if (!keys.has(stateKey)) {
    if ([...keys].some((k) => k.startsWith(`${key}.quant_state.`)))
      fail(key, "only NF4 is supported (found another bitsandbytes quant_type, e.g. fp4)");
    return null;
  }
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(new TextDecoder().decode(await file.readRaw(stateKey))) as Record<string, unknown>;
  } catch {
    fail(key, `${stateKey} is not UTF-8 JSON`);
  }
  if (state.quant_type !== "nf4") fail(key, `quant_type ${JSON.stringify(state.quant_type)}, expected "nf4"`);
  const shape = state.shape;
  const blockSize = state.blocksize;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
    fail(key, "shape is not a list of integers");
  if (typeof blockSize !== "number" || !Number.isInteger(blockSize)) fail(key, "blocksize is not an integer");
  const n = (shape as number[]).reduce((a, b) => a * b, 1);
  const blocks = Math.ceil(n / blockSize);
  const need = (k: string) => {
    if (!keys.has(k)) fail(key, `missing tensor ${k}`);
    return k;
  };
  const packed = await file.readRaw(need(key));
  if (packed.length !== Math.ceil(n / 2))
    fail(key, `${packed.length} packed bytes, shape [${shape}] needs ${Math.ceil(n / 2)}`);
  const qmap = await file.readFloat32(need(`${key}.quant_map`));
  if (qmap.length !== 16 || qmap.some((v, i) => v !== NF4_CODEBOOK[i]))
    fail(key, "quant_map is not the NF4 codebook");
  const absmaxKey = need(`${key}.absmax`);
  const q: Nf4Tensor = { shape: shape as number[], blockSize, packed, absmax: new Float32Array(0) };
  if (typeof state.nested_offset === "number") {
    const code = await file.readRaw(absmaxKey);
    if (file.info(absmaxKey).dtype !== "U8" || code.length !== blocks)
      fail(key, `absmax must be ${blocks} U8 codes with nested quantization`);
    const absmax2 = await file.readFloat32(need(`${key}.nested_absmax`));
    const map2 = await file.readFloat32(need(`${key}.nested_quant_map`));
    const blockSize2 = Number(state.nested_blocksize ?? 256);
    if (map2.length !== 256) fail(key, `nested_quant_map has ${map2.length} values, expected 256`);
    if (absmax2.length !== Math.ceil(blocks / blockSize2))
      fail(key, `nested_absmax has ${absmax2.length} values, expected ${Math.ceil(blocks / blockSize2)}`);
    const offset = Math.fround(state.nested_offset);
    // As bitsandbytes dequantizes the statistics: map[code] · nested absmax, then + offset, in float32.
    const absmax = new Float32Array(blocks);
    for (let i = 0; i < blocks; i++)
      absmax[i] = Math.fround(Math.fround(map2[code[i]] * absmax2[Math.floor(i / blockSize2)]) + offset);
    q.absmax = absmax;
    q.doubleQuant = { code, absmax2, offset, blockSize2 };
  } else {
    q.absmax = await file.readFloat32(absmaxKey);
    if (q.absmax.length !== blocks) fail(key, `absmax has ${q.absmax.length} values, expected ${blocks}`);
  }
  return q;
}

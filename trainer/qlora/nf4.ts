// NF4 quantization exactly as bitsandbytes stores it (Dettmers et al., QLoRA, 2023):
// - the 16-value NormalFloat codebook below (bitsandbytes' `get_4bit_type("nf4")`);
// - blocks of `blockSize` values (64 by default), each scaled by the float32 reciprocal of its
//   absmax and clamped to [-1, 1]; a short last block has its own absmax;
// - nearest code by bucket search over the float32 midpoints between neighbouring codes, a value
//   exactly on a midpoint going to the lower code;
// - two codes per byte, the first element in the high nibble; an odd length padded with the code of 0.0;
// - optional double quantization: absmax minus its mean, quantized with the signed 8-bit dynamic
//   map in blocks of 256 (bitsandbytes' `create_dynamic_map(signed=True)`).

export const NF4_CODEBOOK = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** float32 midpoints between neighbouring entries of a sorted codebook. */
function midpoints(code: Float32Array): Float32Array {
  const m = new Float32Array(code.length - 1);
  for (let i = 0; i < m.length; i++) m[i] = Math.fround(Math.fround(code[i] + code[i + 1]) / 2);
  return m;
}

const NF4_MID = midpoints(NF4_CODEBOOK);
/** Code of the value 0.0: pads an odd-length tensor's last byte. */
const NF4_ZERO_CODE = 7;

/** Index of the nearest code: the number of midpoints strictly below x (ties go to the lower code). */
function bucket(x: number, mid: Float32Array): number {
  let lo = 0;
  let hi = mid.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (mid[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * bitsandbytes' signed dynamic 8-bit map (create_dynamic_map(signed=True, max_exponent_bits=7,
 * total_bits=8)): for each exponent i, 2^(i+1)+1 evenly spaced fractions between 0.1 and 1
 * (their midpoints kept) scaled by 10^-(6-i), mirrored for negatives, plus 0 and 1; sorted.
 */
export function dynamicMap8bit(): Float32Array {
  const values: number[] = [];
  const maxExp = 7;
  const nonSign = 7;
  const additional = nonSign - maxExp; // 0
  for (let i = 0; i < maxExp; i++) {
    const n = 2 ** (i + additional) + 1; // signed: fraction items
    const lin = new Float32Array(n);
    for (let k = 0; k < n; k++) lin[k] = Math.fround(0.1 + ((1 - 0.1) * k) / (n - 1));
    const scale = Math.fround(10 ** -(maxExp - 1 - i));
    for (let k = 0; k < n - 1; k++) {
      const mean = Math.fround(Math.fround(lin[k] + lin[k + 1]) / 2);
      values.push(Math.fround(scale * mean), Math.fround(-scale * mean));
    }
  }
  values.push(0, 1);
  values.sort((a, b) => a - b);
  return Float32Array.from(values);
}

export interface DoubleQuantState {
  /** 8-bit codes of (absmax - offset), one per block. */
  code: Uint8Array;
  /** absmax of (absmax - offset) per nested block of `blockSize2`. */
  absmax2: Float32Array;
  /** Mean of the absmax values. */
  offset: number;
  blockSize2: number;
}

export interface Nf4Tensor {
  shape: number[];
  blockSize: number;
  /** Two 4-bit codes per byte, first element in the high nibble. */
  packed: Uint8Array;
  /** Per-block absmax in float32 (after double quantization: the recovered values). */
  absmax: Float32Array;
  doubleQuant?: DoubleQuantState;
}

export interface QuantizeOptions {
  blockSize?: number;
  doubleQuant?: boolean;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Blockwise absmax quantization onto a sorted codebook; returns codes and per-block absmax. */
function quantizeBlocks(
  x: Float32Array,
  blockSize: number,
  mid: Float32Array,
  codes: Uint8Array,
): Float32Array {
  const blocks = Math.ceil(x.length / blockSize);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize;
    const end = Math.min(x.length, start + blockSize);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]));
    absmax[b] = m;
    const inv = m === 0 ? 0 : Math.fround(1 / Math.fround(m));
    for (let i = start; i < end; i++) {
      let s = Math.fround(x[i] * inv);
      if (s > 1) s = 1;
      else if (s < -1) s = -1;
      codes[i] = bucket(s, mid);
    }
  }
  return absmax;
}

const DYN = dynamicMap8bit();
const DYN_MID = midpoints(DYN);

export function quantizeNf4(x: Float32Array, shape: number[], opts: QuantizeOptions = {}): Nf4Tensor {
  const blockSize = opts.blockSize ?? 64;
  if (
    !Number.isInteger(blockSize) ||
    blockSize < 32 ||
    blockSize > 4096 ||
    (blockSize & (blockSize - 1)) !== 0
  ) {
    throw new Error(`nf4 blockSize: expected a power of two in [32, 4096], got ${blockSize}`);
  }
  if (numel(shape) !== x.length)
    throw new Error(`nf4: shape [${shape.join(", ")}] has ${numel(shape)} elements, data has ${x.length}`);
  const codes = new Uint8Array(x.length);
  const absmax = quantizeBlocks(x, blockSize, NF4_MID, codes);
  const packed = new Uint8Array(Math.ceil(x.length / 2));
  for (let i = 0; i < x.length; i += 2)
    packed[i >> 1] = (codes[i] << 4) | (i + 1 < x.length ? codes[i + 1] : NF4_ZERO_CODE);
  const q: Nf4Tensor = { shape: [...shape], blockSize, packed, absmax };
  if (opts.doubleQuant) {
    const dq = doubleQuantize(absmax);
    q.doubleQuant = dq;
    q.absmax = recoverAbsmax(dq, absmax.length);
  }
  return q;
}

export function doubleQuantize(absmax: Float32Array, blockSize2 = 256): DoubleQuantState {
  let sum = 0;
  for (let i = 0; i < absmax.length; i++) sum += absmax[i];
  const offset = Math.fround(sum / absmax.length);
  const centred = new Float32Array(absmax.length);
  for (let i = 0; i < absmax.length; i++) centred[i] = Math.fround(absmax[i] - offset);
  const code = new Uint8Array(absmax.length);
  const absmax2 = quantizeBlocks(centred, blockSize2, DYN_MID, code);
  // bitsandbytes keeps a zero nested absmax from dividing by zero by clamping it to a tiny value.
  for (let i = 0; i < absmax2.length; i++) if (absmax2[i] === 0) absmax2[i] = Math.fround(1e-38);
  return { code, absmax2, offset, blockSize2 };
}

export function recoverAbsmax(dq: DoubleQuantState, blocks: number): Float32Array {
  const out = new Float32Array(blocks);
  for (let i = 0; i < blocks; i++) {
    out[i] = Math.fround(
      Math.fround(DYN[dq.code[i]] * dq.absmax2[Math.floor(i / dq.blockSize2)]) + dq.offset,
    );
  }
  return out;
}

/** Byte → the two decoded codebook values, so dequantization is one lookup per pair. */
const PAIR_HI = new Float32Array(256);
const PAIR_LO = new Float32Array(256);
for (let b = 0; b < 256; b++) {
  PAIR_HI[b] = NF4_CODEBOOK[b >> 4];
  PAIR_LO[b] = NF4_CODEBOOK[b & 15];
}

export function dequantizeNf4(q: Nf4Tensor, out?: Float32Array): Float32Array {
  const n = numel(q.shape);
  const y = out ?? new Float32Array(n);
  if (y.length !== n) throw new Error(`nf4 dequantize: output has ${y.length} elements, expected ${n}`);
  const { packed, absmax, blockSize } = q;
  if (packed.length !== Math.ceil(n / 2) || absmax.length !== Math.ceil(n / blockSize)) {
    throw new Error(
      `nf4 dequantize: [${q.shape.join(", ")}] in blocks of ${blockSize} needs ${Math.ceil(n / 2)} packed bytes and ${Math.ceil(n / blockSize)} absmax values, got ${packed.length} and ${absmax.length}`,
    );
  }
  // Block sizes are even, so a byte's two codes always share a block; only an odd total length
  // leaves a lone high nibble at the very end. A float32 × float32 product is exact in a double,
  // so storing it into the Float32Array rounds once, exactly like a float32 multiply.
  for (let start = 0, b = 0; start < n; start += blockSize, b++) {
    const s = absmax[b];
    const end = Math.min(n, start + blockSize);
    let i = start;
    for (; i + 1 < end; i += 2) {
      const byte = packed[i >> 1];
      y[i] = PAIR_HI[byte] * s;
      y[i + 1] = PAIR_LO[byte] * s;
    }
    if (i < end) y[i] = PAIR_HI[packed[i >> 1]] * s;
  }
  return y;
}

/**
 * Storage bits per quantized parameter: 4 bits of code plus the block scale. Without double
 * quantization a float32 absmax per block (32/blockSize); with it an 8-bit code per block plus a
 * float32 nested absmax per blockSize·256 values (for 64: 4 + 8/64 + 32/16384 = 4.127).
 */
export function nf4BitsPerParameter(blockSize: number, doubleQuant: boolean): number {
  return doubleQuant ? 4 + 8 / blockSize + 32 / (blockSize * 256) : 4 + 32 / blockSize;
}

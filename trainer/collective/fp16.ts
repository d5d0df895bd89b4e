// IEEE 754 binary16 conversion for the "fp16" wire compression. Node 20 has no Float16Array, so
// float32 -> half is done on the bit patterns with round-to-nearest-even; half -> float32 goes
// through a 65536-entry table (256 KiB, built once).
//
// Range: |x| > 65504 becomes ±Infinity; |x| < 2^-24 flushes towards ±0 through the subnormals.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function halfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, and past 30 gives Infinity: both correct.
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** Encodes `src` into `dst` (same length) as binary16 bit patterns. */
export function encodeF16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = halfBits(bits[i]);
}

let table: Float32Array | undefined;

function decodeTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant === 0 ? sign * Infinity : NaN;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  table = t;
  return t;
}

/** Decodes binary16 bit patterns into `dst` (same length). */
export function decodeF16(src: Uint16Array, dst: Float32Array): void {
  const t = decodeTable();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
}

/** Adds decoded binary16 values into `acc` (same length): the reduce step with fp16 on the wire. */
export function addF16(acc: Float32Array, src: Uint16Array): void {
  const t = decodeTable();
  for (let i = 0; i < src.length; i++) acc[i] += t[src[i]];
}

/** Rounds one float32 to the nearest binary16 value (for tests and error bounds). */
export function roundToF16(x: number): number {
  f32[0] = x;
  return decodeTable()[halfBits(u32[0])];
}

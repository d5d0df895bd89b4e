// Deterministic test inputs: every process (and the test itself) can regenerate any rank's vector.
// Magnitudes span 2^-8..2^8 so float32 rounding really happens in the sums.
export function inputs(salt: number, rank: number, n: number): Float32Array {
  let s = (salt * 1_000_003 + rank * 7919 + n * 31 + 12345) >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n); // [n]
  for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * 2 ** Math.floor(next() * 17 - 8);
  return out;
}

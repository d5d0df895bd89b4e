// Seeded pseudo-random numbers: every random choice in the data part and the bootstrap intervals of
// the evaluation derive from a seed.

/** mulberry32: a small, fast 32-bit generator, good enough for shuffling, procedural drawing and resampling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

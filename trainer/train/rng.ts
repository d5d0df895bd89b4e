// Counter-based randomness: every random choice in training is a pure function of
// (run seed, purpose, step, index), so resuming at step N needs no saved generator state and every
// replica draws the same numbers without talking to the others.

/** 32-bit mix (a variant of the murmur3 finaliser). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 31-bit seed derived from the given integers (usable as a tf.js dropout seed). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = mix32(h ^ mix32((p | 0) + 0x632be5ab));
  return h & 0x7fffffff;
}

/** A uniform number in [0, 1) from the given integers. */
export function uniform(...parts: number[]): number {
  return deriveSeed(...parts) / 0x80000000;
}

export const PURPOSE = { dropout: 1, tableTeacherForcing: 2, init: 3 } as const;

// Counter-based randomness: every random choice in training is a pure function of
// (run seed, purpose, step, index), so resuming at step N needs no saved generator state and every
// replica draws the same numbers without talking to the others.
import { fmix32 } from "../../common/random.js";

/** A 31-bit seed derived from the given integers (usable as a tf.js dropout seed). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = fmix32(h ^ fmix32((p | 0) + 0x632be5ab));
  return h & 0x7fffffff;
}

/** A uniform number in [0, 1) from the given integers. */
export function uniform(...parts: number[]): number {
  return deriveSeed(...parts) / 0x80000000;
}

export const PURPOSE = { dropout: 1, tableTeacherForcing: 2, init: 3 } as const;

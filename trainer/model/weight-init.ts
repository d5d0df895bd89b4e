// Seeded initial weights. Every random tensor draws from a seed derived from its own name, never
// from the order it is made in, so the same seed gives the same weights however the model is built.
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./config.js";
import { llavaWeightTable } from "./weight-table.js";
import type { WeightMap } from "./weight-map.js";

const INIT_STD = 0.02;

/** A 31-bit seed from a run seed and a name (FNV-1a over the name, started from the seed). */
export function hashSeed(seed: number, name: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

/** Normal(0, σ) values, deterministic from the seed. */
export function normalInit(shape: number[], std: number, seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, 0, std, "float32", seed).dataSync() as Float32Array).slice();
}

/** The classifier head's fresh weight [labels, D] (also for a checkpoint that has no head). */
export function classifierInit(shape: number[], seed: number): Float32Array {
  return normalInit(shape, INIT_STD, hashSeed(seed, "classifier.weight"));
}

/** Every tensor of the table, initialised as its entry says (normal σ = 0.02, zeros or ones). */
export function randomWeights(config: ModelConfig, seed: number): WeightMap {
  const out: WeightMap = new Map();
  for (const t of llavaWeightTable(config).tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const data =
      t.init === "ones"
        ? new Float32Array(size).fill(1)
        : t.init === "zeros"
          ? new Float32Array(size)
          : normalInit(t.shape, INIT_STD, hashSeed(seed, t.name));
    out.set(t.name, { shape: [...t.shape], data });
  }
  return out;
}

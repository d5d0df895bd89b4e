// Weights as a checkpoint holds them, keyed by canonical name, and the check that they are exactly
// the ones the weight table asks for.
import type { Nf4Tensor } from "../qlora/index.js";
import type { LlavaWeightTable } from "./weight-table.js";

export interface WeightEntry {
  shape: number[];
  data: Float32Array;
  /** Set when the checkpoint stores this linear weight in NF4 already. */
  nf4?: Nf4Tensor;
  /** The key in the checkpoint file, when it differs from the canonical name (for error messages). */
  sourceKey?: string;
}
export type WeightMap = Map<string, WeightEntry>;

/**
 * Lists every missing, unexpected and mis-shaped tensor at once, so one run shows all problems.
 * The head may be absent: a Hugging Face checkpoint has none, and the model starts a fresh one.
 */
export function checkWeights(table: LlavaWeightTable, weights: WeightMap, source: string): void {
  const expected = new Map(table.tensors.map((t) => [t.name, t]));
  const missing = table.tensors.filter((t) => !weights.has(t.name) && t.part !== "head").map((t) => t.name);
  const stored = (k: string) => {
    const s = weights.get(k)?.sourceKey;
    return s && s !== k ? `${k} (stored as ${s})` : k;
  };
  const extra = [...weights.keys()].filter((k) => !expected.has(k)).map(stored);
  const misshaped = table.tensors
    .filter((t) => weights.has(t.name) && weights.get(t.name)!.shape.join("x") !== t.shape.join("x"))
    .map(
      (t) =>
        `${stored(t.name)} (expected [${t.shape.join(", ")}], got [${weights.get(t.name)!.shape.join(", ")}])`,
    );
  if (missing.length || extra.length || misshaped.length) {
    const parts = [];
    if (missing.length) parts.push(`missing: ${missing.join(", ")}`);
    if (extra.length) parts.push(`unexpected: ${extra.join(", ")}`);
    if (misshaped.length) parts.push(`wrong shape: ${misshaped.join(", ")}`);
    throw new Error(
      `${source}: checkpoint does not match its config.json — ${parts.join("; ")}. ` +
        `Check that config.json belongs to these weights (sizes, layer counts, tie_word_embeddings).`,
    );
  }
}

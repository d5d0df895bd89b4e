import type { ModelConfig } from "./config.js";
import { llavaWeightTable } from "./weight-table.js";

/** Parameters by part (vision tower, projector with image_newline, language model incl. embeddings, head), from the config alone. */
export function countParameters(c: ModelConfig): {
  vision: number;
  projector: number;
  language: number;
  head: number;
  total: number;
} {
  const r = { vision: 0, projector: 0, language: 0, head: 0, total: 0 };
  for (const t of llavaWeightTable(c).tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    r[t.part] += n;
    r.total += n;
  }
  return r;
}

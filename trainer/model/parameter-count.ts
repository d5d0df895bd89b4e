import type { ModelConfig } from "./config.js";
import { expectedShapes } from "./llava.js";

/** Parameters by part (vision tower, projector, language model incl. embeddings, head), from the config alone. */
export function countParameters(c: ModelConfig): {
  vision: number;
  projector: number;
  language: number;
  head: number;
  total: number;
} {
  const r = { vision: 0, projector: 0, language: 0, head: 0, total: 0 };
  for (const [name, shape] of expectedShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.startsWith("model.vision_tower.")) r.vision += n;
    else if (name.startsWith("model.multi_modal_projector.") || name === "model.image_newline")
      r.projector += n;
    else if (name.startsWith("classifier.")) r.head += n;
    else r.language += n;
    r.total += n;
  }
  return r;
}

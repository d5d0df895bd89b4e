// The two ways Hugging Face checkpoints spell the same weight. radfleet's canonical names (the
// weight table's) are transformers' in-memory ones (`model.language_model.…`,
// `model.vision_tower.vision_model.…`, `lm_head.weight`); files saved by transformers 4.x use the
// older LLaVA layout (`language_model.model.…`, `vision_tower.vision_model.…`), and transformers 5
// drops the SigLIP tower's `vision_model.` level.

/** Maps a checkpoint key in any of those layouts to its canonical name. */
export function canonicalKey(key: string): string {
  let k = key;
  if (k.startsWith("language_model.model."))
    k = `model.language_model.${k.slice("language_model.model.".length)}`;
  else if (k === "language_model.lm_head.weight") k = "lm_head.weight";
  else if (k.startsWith("vision_tower.") || k.startsWith("multi_modal_projector.") || k === "image_newline")
    k = `model.${k}`;
  if (k.startsWith("model.vision_tower.") && !k.startsWith("model.vision_tower.vision_model.")) {
    k = `model.vision_tower.vision_model.${k.slice("model.vision_tower.".length)}`;
  }
  return k;
}

/** Canonical name → the layout transformers saves (`language_model.model.…`, `vision_tower.vision_model.…`). */
export function savedKey(name: string): string {
  if (name.startsWith("model.language_model."))
    return `language_model.model.${name.slice("model.language_model.".length)}`;
  if (name === "lm_head.weight") return "language_model.lm_head.weight";
  if (name.startsWith("model.")) return name.slice("model.".length);
  return name;
}

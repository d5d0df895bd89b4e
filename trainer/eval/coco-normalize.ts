// The text normalisation radfleet applies before the pycocoevalcap metrics, close to R2Gen's report
// cleaning: lowercase, keep letters, digits and '.', make '.' a token of its own, single spaces.
// pycocoevalcap itself does no normalisation, so this is named in every output ("coco" variants).

export function cocoNormalize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, " ")
    .replace(/\./g, " . ")
    .split(/\s+/)
    .filter((t) => t.length > 0)
    .join(" ");
}

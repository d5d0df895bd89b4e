// What n-gram and clinical scores miss about a set of generated reports: whether the model writes
// one text for every image (distinct reports) and whether a report says the same sentence twice
// (the degenerate repetition of a decoder that does not track what it has written).

/** A report's sentences, normalised for comparison: lowercase, single spaces, no end punctuation. */
export function sentencesOf(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[.!?](?:\s+|$)|\n+/)
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => s.length > 0);
}

/** Sentences a report says more than once (each listed once, in first-seen order). */
export function repeatedSentences(text: string): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const s of sentencesOf(text)) (seen.has(s) ? repeated : seen).add(s);
  return [...repeated];
}

export interface TextDiversity {
  reports: number;
  /** Different texts among the reports (compared after normalising case and spacing). */
  distinct: number;
  distinctRate: number;
  /** Reports that say some sentence twice or more. */
  repeating: number;
  repeatingRate: number;
  /** The same count for the reference reports, for scale (a report's impression may restate its findings). */
  referenceRepeating: number;
  /** Up to five repeating reports: id and the sentences said again. */
  examples: Array<{ id: string; repeated: string[] }>;
}

/** How many different texts there are, compared case- and whitespace-insensitively. */
export function distinctCount(texts: readonly string[]): number {
  return new Set(texts.map((t) => t.toLowerCase().replace(/\s+/g, " ").trim())).size;
}

export function textDiversity(
  records: ReadonlyArray<{ id: string; generated: string; reference: string }>,
): TextDiversity {
  const distinct = distinctCount(records.map((r) => r.generated));
  const rep = records.map((r) => ({ id: r.id, repeated: repeatedSentences(r.generated) }));
  const repeating = rep.filter((r) => r.repeated.length > 0);
  const n = Math.max(records.length, 1);
  return {
    reports: records.length,
    distinct,
    distinctRate: distinct / n,
    repeating: repeating.length,
    repeatingRate: repeating.length / n,
    referenceRepeating: records.filter((r) => repeatedSentences(r.reference).length > 0).length,
    examples: repeating.slice(0, 5),
  };
}

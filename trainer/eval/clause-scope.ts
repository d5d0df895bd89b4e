// Where a cue's reach ends: the sentence and clause cuts of a report, and the clause around a mention.
// NegEx and pyConText end a trigger's scope at a termination term or the sentence end; the CheXpert
// labeler and NegBio use the parse for the same purpose. radfleet cuts at sentence ends and at the
// words that open a new clause (CLAUSE_BOUNDARY), computed once per report.

import { CLAUSE_BOUNDARY, SENTENCE_BOUNDARY } from "./negation-cues.js";

export interface Span {
  start: number;
  end: number;
}

export const overlaps = (a: Span, b: Span): boolean => a.start < b.end && b.start < a.end;

/** Lowercase without changing the length, so offsets in the lowered text are offsets in the report. */
export function lowerKeepLength(text: string): string {
  let out = "";
  for (const ch of text) {
    const l = ch.toLowerCase();
    out += l.length === ch.length ? l : ch;
  }
  return out;
}

/** Every match of a global pattern, as spans; empty matches are skipped. */
export function spans(re: RegExp | null, text: string): Span[] {
  if (re === null) return [];
  const out: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}

function boundaries(re: RegExp, text: string): number[] {
  const out: number[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(m.index, m.index + m[0].length);
    if (m[0].length === 0) re.lastIndex++;
  }
  return out;
}

/** Sentence and clause cuts of a text, sorted. */
export function clauseCuts(text: string, lower: string): number[] {
  // Sentence ends are found in the original text: a period directly before a capital also ends one.
  const cuts = [...boundaries(SENTENCE_BOUNDARY, text), ...boundaries(CLAUSE_BOUNDARY, lower)];
  return [...new Set(cuts)].sort((a, b) => a - b);
}

/** The clause around a span: from the last cut at or before it to the first cut at or after it. */
export function clauseOf(length: number, cuts: readonly number[], span: Span): Span {
  // Binary search for the first cut >= span.end; the one before it that is <= span.start opens the clause.
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cuts[mid] < span.end) lo = mid + 1;
    else hi = mid;
  }
  const end = lo < cuts.length ? cuts[lo] : length;
  let k = lo - 1;
  while (k >= 0 && cuts[k] > span.start) k--;
  const start = k >= 0 ? cuts[k] : 0;
  return { start, end };
}

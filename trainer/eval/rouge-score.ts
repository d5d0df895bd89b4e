// ROUGE-L and ROUGE-Lsum exactly as Google's rouge-score package (0.1.2) computes them:
// tokenizer (lowercase, runs of non-[a-z0-9] become spaces, Porter stemming of tokens longer than 3
// characters when asked), sentence-level LCS F1 (β = 1), and summary-level union LCS over
// newline-separated sentences with the ROUGE-1.5.5 guard against double counting.

import { lcsIndices, lcsLength } from "./lcs.js";
import { porterStem } from "./porter-stemmer.js";

export interface PRF {
  precision: number;
  recall: number;
  fmeasure: number;
}

const ZERO: PRF = { precision: 0, recall: 0, fmeasure: 0 };

export function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** rouge-score's DefaultTokenizer. */
export function rougeTokenize(text: string, stem: boolean): string[] {
  const cleaned = text.toLowerCase().replace(/[^a-z0-9]+/g, " ");
  const tokens: string[] = [];
  for (const raw of cleaned.split(/\s+/)) {
    if (raw.length === 0) continue;
    tokens.push(stem && raw.length > 3 ? porterStem(raw) : raw);
  }
  return tokens.filter((t) => /^[a-z0-9]+$/.test(t));
}

export function rougeLTokens(target: readonly string[], prediction: readonly string[]): PRF {
  if (target.length === 0 || prediction.length === 0) return { ...ZERO };
  const lcs = lcsLength(target, prediction);
  const precision = lcs / prediction.length;
  const recall = lcs / target.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** rouge-score "rougeL": LCS over the whole texts. */
export function rougeL(target: string, prediction: string, opts: { stem: boolean }): PRF {
  return rougeLTokens(rougeTokenize(target, opts.stem), rougeTokenize(prediction, opts.stem));
}

/** rouge-score "rougeLsum": sentences are the non-empty lines of each text. */
export function rougeLsum(target: string, prediction: string, opts: { stem: boolean }): PRF {
  const sents = (t: string): string[][] =>
    t
      .split("\n")
      .filter((s) => s.length > 0)
      .map((s) => rougeTokenize(s, opts.stem));
  const ref = sents(target);
  const can = sents(prediction);
  if (ref.length === 0 || can.length === 0) return { ...ZERO };
  const m = ref.reduce((a, s) => a + s.length, 0);
  const n = can.reduce((a, s) => a + s.length, 0);
  if (m === 0 || n === 0) return { ...ZERO };

  const countR = new Map<string, number>();
  const countC = new Map<string, number>();
  for (const s of ref) for (const t of s) countR.set(t, (countR.get(t) ?? 0) + 1);
  for (const s of can) for (const t of s) countC.set(t, (countC.get(t) ?? 0) + 1);

  let hits = 0;
  for (const r of ref) {
    const union = new Set<number>();
    for (const c of can) for (const i of lcsIndices(r, c)) union.add(i);
    for (const i of [...union].sort((a, b) => a - b)) {
      const tok = r[i];
      const cc = countC.get(tok) ?? 0;
      const cr = countR.get(tok) ?? 0;
      if (cc > 0 && cr > 0) {
        hits++;
        countC.set(tok, cc - 1);
        countR.set(tok, cr - 1);
      }
    }
  }
  const recall = hits / m;
  const precision = hits / n;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

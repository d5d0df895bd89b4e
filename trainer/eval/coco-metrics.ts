// BLEU-1..4 and ROUGE-L as pycocoevalcap 1.2 computes them (bleu/bleu_scorer.py, rouge/rouge.py), the
// numbers R2Gen-style report-generation papers publish. Both take texts that are already tokenized:
// tokens are what str.split() (BLEU) and str.split(" ") (ROUGE-L) return. See coco-normalize.ts for the
// normalisation radfleet applies first.

import { lcsLength } from "./lcs.js";

export interface CocoPair {
  /** the generated text (one hypothesis) */
  hypothesis: string;
  /** one or more reference texts */
  references: string[];
}

export interface CocoBleu {
  /** corpus-level BLEU-1..4 (clipped counts summed over the corpus, closest reference length, brevity penalty) */
  bleu: [number, number, number, number];
  /** sentence-level BLEU-1..4 of each pair, as pycocoevalcap's second return value */
  perPair: [number[], number[], number[], number[]];
  testLength: number;
  refLength: number;
}

const N = 4;
// pycocoevalcap's smoothing constants, kept so results match to the last digits.
const SMALL = 1e-9;
const TINY = 1e-15;

function ngramCounts(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let k = 1; k <= N; k++) {
    for (let i = 0; i + k <= tokens.length; i++) {
      const key = `${k}\u0000${tokens.slice(i, i + k).join("\u0000")}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

function pySplit(text: string): string[] {
  return text.split(/\s+/).filter((t) => t.length > 0);
}

export function cocoBleu(pairs: readonly CocoPair[]): CocoBleu {
  const perPair: [number[], number[], number[], number[]] = [[], [], [], []];
  const guess = [0, 0, 0, 0];
  const correct = [0, 0, 0, 0];
  let testLength = 0;
  let refLength = 0;
  for (const [idx, { hypothesis, references }] of pairs.entries()) {
    if (references.length === 0) throw new Error(`cocoBleu: pair ${idx} has no reference; give at least one`);
    const refLens: number[] = [];
    const maxRef = new Map<string, number>();
    for (const ref of references) {
      const toks = pySplit(ref);
      refLens.push(toks.length);
      for (const [g, c] of ngramCounts(toks)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
    }
    const hyp = pySplit(hypothesis);
    const tl = hyp.length;
    // Closest reference length; on a tie, the shorter one (Python's min over (|diff|, len) tuples).
    let rl = refLens[0];
    for (const l of refLens) {
      const d = Math.abs(l - tl);
      const best = Math.abs(rl - tl);
      if (d < best || (d === best && l < rl)) rl = l;
    }
    const g = [0, 1, 2, 3].map((k) => Math.max(0, tl - k));
    const c = [0, 0, 0, 0];
    for (const [key, count] of ngramCounts(hyp)) {
      const k = Number(key.slice(0, key.indexOf("\u0000")));
      c[k - 1] += Math.min(maxRef.get(key) ?? 0, count);
    }
    testLength += tl;
    refLength += rl;
    let b = 1;
    for (let k = 0; k < N; k++) {
      guess[k] += g[k];
      correct[k] += c[k];
      b *= (c[k] + TINY) / (g[k] + SMALL);
      perPair[k].push(b ** (1 / (k + 1)));
    }
    const ratio = (tl + TINY) / (rl + SMALL);
    if (ratio < 1) for (let k = 0; k < N; k++) perPair[k][perPair[k].length - 1] *= Math.exp(1 - 1 / ratio);
  }
  const bleu: [number, number, number, number] = [0, 0, 0, 0];
  let b = 1;
  for (let k = 0; k < N; k++) {
    b *= (correct[k] + TINY) / (guess[k] + SMALL);
    bleu[k] = b ** (1 / (k + 1));
  }
  const ratio = (testLength + TINY) / (refLength + SMALL);
  if (ratio < 1) for (let k = 0; k < N; k++) bleu[k] *= Math.exp(1 - 1 / ratio);
  return { bleu, perPair, testLength, refLength };
}

/** pycocoevalcap's ROUGE-L F-score of one pair: max P and max R over references, β = 1.2. */
export function cocoRougeLPair(pair: CocoPair): number {
  const BETA = 1.2;
  const cand = pair.hypothesis.split(" ");
  let pMax = 0;
  let rMax = 0;
  for (const ref of pair.references) {
    const r = ref.split(" ");
    const l = lcsLength(r, cand);
    pMax = Math.max(pMax, l / cand.length);
    rMax = Math.max(rMax, l / r.length);
  }
  if (pMax === 0 || rMax === 0) return 0;
  return ((1 + BETA ** 2) * pMax * rMax) / (rMax + BETA ** 2 * pMax);
}

/** pycocoevalcap Rouge().compute_score: the mean of per-pair scores. */
export function cocoRougeL(pairs: readonly CocoPair[]): { rougeL: number; perPair: number[] } {
  const perPair = pairs.map(cocoRougeLPair);
  const rougeL = perPair.length === 0 ? 0 : perPair.reduce((a, b) => a + b, 0) / perPair.length;
  return { rougeL, perPair };
}

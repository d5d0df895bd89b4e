// Metrics of the auxiliary classification head (14 sigmoid outputs) against ground-truth labels:
// per-label F1 at a 0.5 threshold and AUROC, and their means over the labels that have positives.

import { CHEXPERT_LABELS, type ChexpertLabel, type LabelVector } from "../../common/chexpert.js";
import { isPositive, scoreCounts, type Counts, type UncertainPolicy } from "./clinical-metrics.js";

export interface HeadLabelMetrics {
  f1: number;
  precision: number;
  recall: number;
  /** null when the label has only positives or only negatives among the targets */
  auroc: number | null;
  support: number;
}

export interface HeadMetrics {
  threshold: number;
  perLabel: Record<ChexpertLabel, HeadLabelMetrics>;
  /** mean F1 over labels with at least one positive target */
  macroF1: number;
  /** mean AUROC over labels where it is defined */
  macroAuroc: number | null;
  labelsInMacro: ChexpertLabel[];
}

/** AUROC as the Mann–Whitney statistic, ties counted as half (equal to the trapezoidal ROC area). */
export function auroc(scores: readonly number[], positive: readonly boolean[]): number | null {
  const idx = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Float64Array(scores.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k][1]] = avg;
    i = j + 1;
  }
  let nPos = 0;
  let rankSum = 0;
  positive.forEach((p, i) => {
    if (p) {
      nPos++;
      rankSum += ranks[i];
    }
  });
  const nNeg = scores.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export function headMetrics(
  probs: ReadonlyArray<readonly number[]>,
  targets: readonly LabelVector[],
  policy: UncertainPolicy,
  threshold = 0.5,
): HeadMetrics {
  if (probs.length !== targets.length) {
    throw new Error(`head metrics: ${probs.length} probability rows but ${targets.length} target rows`);
  }
  const perLabel = {} as Record<ChexpertLabel, HeadLabelMetrics>;
  const labelsInMacro: ChexpertLabel[] = [];
  CHEXPERT_LABELS.forEach((label, i) => {
    const s = probs.map((p) => p[i]);
    const t = targets.map((v) => isPositive(v[i], policy));
    const c: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    s.forEach((p, n) => {
      const pred = p >= threshold;
      if (pred && t[n]) c.tp++;
      else if (pred) c.fp++;
      else if (t[n]) c.fn++;
      else c.tn++;
    });
    const sc = scoreCounts(c);
    perLabel[label] = {
      f1: sc.f1,
      precision: sc.precision,
      recall: sc.recall,
      auroc: auroc(s, t),
      support: sc.support,
    };
    if (sc.support > 0) labelsInMacro.push(label);
  });
  const macroF1 = labelsInMacro.length
    ? labelsInMacro.reduce((a, l) => a + perLabel[l].f1, 0) / labelsInMacro.length
    : 0;
  const aucs = CHEXPERT_LABELS.map((l) => perLabel[l].auroc).filter((a): a is number => a !== null);
  const macroAuroc = aucs.length ? aucs.reduce((a, b) => a + b, 0) / aucs.length : null;
  return { threshold, perLabel, macroF1, macroAuroc, labelsInMacro };
}

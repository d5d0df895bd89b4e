// Clinical-efficacy metrics: the labels of generated reports scored against the labels of the
// references, per observation and pooled (micro) or averaged (macro), over the 14 and over the 5.

import {
  CHEXPERT_5,
  CHEXPERT_LABELS,
  type ChexpertLabel,
  type LabelValue,
  type LabelVector,
} from "../../common/chexpert.js";

/** How an uncertain (-1) label counts: as a positive or as a negative. Blank always counts as negative. */
export type UncertainPolicy = "positive" | "negative";

export function isPositive(v: LabelValue | undefined, policy: UncertainPolicy): boolean {
  return v === 1 || (v === -1 && policy === "positive");
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface PRFScores {
  precision: number;
  recall: number;
  f1: number;
  /** references positive for this observation */
  support: number;
}

/** Adds one decision to the counts: predicted positive or not against gold positive or not. */
export function tally(c: Counts, predicted: boolean, gold: boolean): void {
  if (predicted && gold) c.tp++;
  else if (predicted) c.fp++;
  else if (gold) c.fn++;
  else c.tn++;
}

export function scoreCounts(c: Counts): PRFScores {
  // 0/0 is reported as 0, as scikit-learn does with zero_division=0.
  const precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : 0;
  const recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, support: c.tp + c.fn };
}

export interface ClinicalMetrics {
  uncertainPolicy: UncertainPolicy;
  perLabel: Record<ChexpertLabel, PRFScores & Counts>;
  micro14: PRFScores;
  macro14: PRFScores;
  micro5: PRFScores;
  macro5: PRFScores;
}

function pool(
  labels: readonly ChexpertLabel[],
  counts: Record<ChexpertLabel, Counts>,
): { micro: PRFScores; macro: PRFScores } {
  const sum: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const l of labels) {
    sum.tp += counts[l].tp;
    sum.fp += counts[l].fp;
    sum.fn += counts[l].fn;
    sum.tn += counts[l].tn;
  }
  const per = labels.map((l) => scoreCounts(counts[l]));
  const mean = (f: (s: PRFScores) => number): number =>
    per.reduce((a, s) => a + f(s), 0) / Math.max(1, per.length);
  return {
    micro: scoreCounts(sum),
    macro: {
      precision: mean((s) => s.precision),
      recall: mean((s) => s.recall),
      f1: mean((s) => s.f1),
      support: sum.tp + sum.fn,
    },
  };
}

export function countsFor(
  predicted: readonly LabelVector[],
  reference: readonly LabelVector[],
  policy: UncertainPolicy,
): Record<ChexpertLabel, Counts> {
  if (predicted.length !== reference.length) {
    throw new Error(
      `clinical metrics: ${predicted.length} predicted label vectors but ${reference.length} references`,
    );
  }
  const counts = Object.fromEntries(
    CHEXPERT_LABELS.map((l) => [l, { tp: 0, fp: 0, fn: 0, tn: 0 }]),
  ) as Record<ChexpertLabel, Counts>;
  predicted.forEach((p, r) => {
    CHEXPERT_LABELS.forEach((label, i) => {
      const pp = isPositive(p[i], policy);
      const rp = isPositive(reference[r][i], policy);
      tally(counts[label], pp, rp);
    });
  });
  return counts;
}

export function clinicalMetrics(
  predicted: readonly LabelVector[],
  reference: readonly LabelVector[],
  policy: UncertainPolicy,
): ClinicalMetrics {
  const counts = countsFor(predicted, reference, policy);
  const perLabel = Object.fromEntries(
    CHEXPERT_LABELS.map((l) => [l, { ...counts[l], ...scoreCounts(counts[l]) }]),
  ) as Record<ChexpertLabel, PRFScores & Counts>;
  const all = pool(CHEXPERT_LABELS, counts);
  const five = pool(CHEXPERT_5, counts);
  return {
    uncertainPolicy: policy,
    perLabel,
    micro14: all.micro,
    macro14: all.macro,
    micro5: five.micro,
    macro5: five.macro,
  };
}

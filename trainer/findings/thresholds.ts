// Per-observation decision thresholds for the classifier's table, tuned on validation reports and
// saved beside the adapter (findings_thresholds.json) so inference reproduces the tables the
// evaluation measured.

import { CHEXPERT_LABELS, NUM_LABELS, type LabelVector } from "../../common/chexpert.js";
import { isPositive, type UncertainPolicy } from "../eval/index.js";

export const THRESHOLDS_FILE = "findings_thresholds.json";
export const DEFAULT_THRESHOLD = 0.5;

export interface ThresholdsFile {
  schema: "radfleet.findings-thresholds/v1";
  /** observation → threshold, in CHEXPERT_LABELS order */
  thresholds: Record<string, number>;
  /** per observation: how the threshold was chosen and the validation F1 it reached */
  tuning: Record<string, { rule: "max_f1" | "default"; f1: number | null; positives: number }>;
  tunedOn: { split: string; reports: number; step: number };
}

export interface TunedThresholds {
  thresholds: number[];
  file: ThresholdsFile;
}

/**
 * For each observation, the threshold that maximises F1 on (probability, label) pairs: candidates
 * are the midpoints between consecutive distinct probabilities (and below the smallest); ties go to
 * the candidate closest to 0.5, so a flat stretch of equally good thresholds gives a central one.
 * An observation with no positive or no negative target keeps 0.5: F1 cannot choose there.
 * Labels that are blank are left out; uncertain ones count per the policy.
 */
export function tuneThresholds(
  probs: ReadonlyArray<readonly number[]>,
  labels: readonly LabelVector[],
  policy: UncertainPolicy,
  tunedOn: ThresholdsFile["tunedOn"],
): TunedThresholds {
  if (probs.length !== labels.length) {
    throw new Error(`tune thresholds: ${probs.length} probability rows but ${labels.length} label rows`);
  }
  const thresholds: number[] = [];
  const file: ThresholdsFile = {
    schema: "radfleet.findings-thresholds/v1",
    thresholds: {},
    tuning: {},
    tunedOn,
  };
  for (let k = 0; k < NUM_LABELS; k++) {
    const pairs: Array<[number, boolean]> = [];
    probs.forEach((p, i) => {
      const v = labels[i][k];
      if (v === null || v === undefined) return;
      pairs.push([p[k], isPositive(v, policy)]);
    });
    const positives = pairs.filter(([, y]) => y).length;
    const name = CHEXPERT_LABELS[k];
    let best = DEFAULT_THRESHOLD;
    let bestF1: number | null = null;
    if (positives > 0 && positives < pairs.length) {
      const sorted = [...new Set(pairs.map(([p]) => p))].sort((a, b) => a - b);
      // Below the smallest (everything present), then between neighbours; all > 0 as files require.
      const lowest = sorted[0] > 0 ? sorted[0] / 2 : Number.MIN_VALUE;
      const candidates = [lowest, ...sorted.slice(1).map((p, i) => (sorted[i] + p) / 2)];
      for (const t of candidates) {
        let tp = 0;
        let fp = 0;
        for (const [p, y] of pairs) {
          if (p >= t) {
            if (y) tp++;
            else fp++;
          }
        }
        const f1 = (2 * tp) / (2 * tp + fp + (positives - tp));
        const better =
          bestF1 === null ||
          f1 > bestF1 + 1e-12 ||
          (Math.abs(f1 - bestF1) <= 1e-12 && Math.abs(t - 0.5) < Math.abs(best - 0.5));
        if (better) {
          best = t;
          bestF1 = f1;
        }
      }
    }
    // Full precision: JSON round-trips a double exactly, and rounding could move a threshold
    // across a probability near 0 or 1 (and off the F1 recorded for it).
    thresholds.push(best);
    file.thresholds[name] = best;
    file.tuning[name] = {
      rule: bestF1 === null ? "default" : "max_f1",
      f1: bestF1 === null ? null : Number(bestF1.toFixed(4)),
      positives,
    };
  }
  return { thresholds, file };
}

/** Thresholds from a saved file, checked: every observation, each in (0, 1]. */
export function thresholdsFromFile(json: unknown, source: string): number[] {
  const t = (json as Partial<ThresholdsFile> | null)?.thresholds;
  if (!t || typeof t !== "object") throw new Error(`${source}: no "thresholds" object`);
  return CHEXPERT_LABELS.map((l) => {
    const v = (t as Record<string, unknown>)[l];
    if (typeof v !== "number" || !(v > 0 && v <= 1)) {
      throw new Error(`${source}: thresholds["${l}"] must be a number in (0, 1], got ${JSON.stringify(v)}`);
    }
    return v;
  });
}

export function defaultThresholds(): number[] {
  return new Array<number>(NUM_LABELS).fill(DEFAULT_THRESHOLD);
}

// Seeded percentile bootstrap for a mean over reports: the 95% interval of the rates in the audit.

import { mulberry32 } from "../../common/random.js";

export interface Estimate {
  /** the mean over all reports */
  value: number;
  /** 2.5th and 97.5th percentiles of the resampled means */
  ci95: [number, number];
}

/** The q-quantile of sorted values, interpolated linearly between closest ranks. */
export function percentile(sorted: Float64Array, q: number): number {
  // Linear interpolation between closest ranks, as numpy.percentile's default.
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function bootstrapMean(values: readonly number[], resamples: number, seed: number): Estimate {
  const n = values.length;
  if (n === 0) return { value: 0, ci95: [0, 0] };
  const value = values.reduce((a, b) => a + b, 0) / n;
  if (resamples <= 0) return { value, ci95: [value, value] };
  const rand = mulberry32(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(rand() * n)];
    means[r] = s / n;
  }
  means.sort();
  return { value, ci95: [percentile(means, 0.025), percentile(means, 0.975)] };
}

/**
 * The same percentile bootstrap for any statistic of a set of reports (a corpus-level F1, say):
 * stat is called with the indices of each resample, with repeats.
 */
export function bootstrapStatistic(
  n: number,
  stat: (indices: readonly number[]) => number,
  resamples: number,
  seed: number,
): Estimate {
  const all = Array.from({ length: n }, (_, i) => i);
  const value = n ? stat(all) : 0;
  if (n === 0 || resamples <= 0) return { value, ci95: [value, value] };
  const rand = mulberry32(seed);
  const values = new Float64Array(resamples);
  const idx = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
    values[r] = stat(idx);
  }
  values.sort();
  return { value, ci95: [percentile(values, 0.025), percentile(values, 0.975)] };
}

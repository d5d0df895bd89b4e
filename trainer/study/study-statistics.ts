// The study's comparison: per cell, the mean over its seeds of each metric, with a 95% interval from
// a two-stage bootstrap that resamples both sources of variation, as for hierarchical data
// (Davison & Hinkley, Bootstrap Methods and their Application, 1997, ch. 3): each replicate draws the cell's seeds with replacement and the
// evaluated reports with replacement. Every cell is scored on the same drawn reports in a
// replicate (the runs evaluate the same split), so a difference between cells is paired over
// reports, while seeds are drawn independently per cell (runs of two cells share nothing but the
// seed's number). A difference is called significant when its two-sided bootstrap p-value, Holm-
// adjusted over the comparisons with the baseline for that metric, is below 0.05.
import { mulberry32 } from "../../common/random.js";
import { clinicalMetrics, distinctCount, headMetrics, percentile } from "../eval/index.js";
import type { RunResults } from "./study-results.js";

export interface StudyMetric {
  key: string;
  label: string;
  /** true when larger is better (for reading a difference) */
  higherIsBetter: boolean;
  /** shown as a percentage */
  rate: boolean;
  /** the metric on the reports at these indices (repeats allowed); NaN when the run lacks it */
  value(run: RunResults, indices: readonly number[]): number;
}

const meanAt = (xs: readonly (boolean | number)[], ix: readonly number[]) =>
  ix.reduce((a, i) => a + Number(xs[i]), 0) / Math.max(ix.length, 1);

export const STUDY_METRICS: readonly StudyMetric[] = [
  {
    key: "fullyAccurate",
    label: "fully accurate",
    higherIsBetter: true,
    rate: true,
    value: (r, ix) => meanAt(r.fullyAccurate, ix),
  },
  {
    key: "hallucination",
    label: "hallucination",
    higherIsBetter: false,
    rate: true,
    value: (r, ix) => meanAt(r.hallucinated, ix),
  },
  {
    key: "omission",
    label: "omission",
    higherIsBetter: false,
    rate: true,
    value: (r, ix) => meanAt(r.omitted, ix),
  },
  {
    key: "clinicalF1",
    label: "clinical F1 micro-14",
    higherIsBetter: true,
    rate: false,
    value: (r, ix) =>
      clinicalMetrics(
        ix.map((i) => r.generatedLabels[i]),
        ix.map((i) => r.referenceLabels[i]),
        r.policy,
      ).micro14.f1,
  },
  {
    key: "rougeL",
    label: "ROUGE-L F",
    higherIsBetter: true,
    rate: false,
    value: (r, ix) => meanAt(r.rougeL, ix),
  },
  {
    key: "headMacroAuroc",
    label: "head macro AUROC",
    higherIsBetter: true,
    rate: false,
    value: (r, ix) =>
      r.headProbs
        ? (headMetrics(
            ix.map((i) => r.headProbs![i]),
            ix.map((i) => r.headTargets![i]),
            r.policy,
          ).macroAuroc ?? NaN)
        : NaN,
  },
  {
    key: "consistentWithTable",
    label: "consistent with own table",
    higherIsBetter: true,
    rate: true,
    value: (r, ix) => (r.consistentWithTable ? meanAt(r.consistentWithTable, ix) : NaN),
  },
];

export interface Interval {
  value: number;
  ci95: [number, number];
}

export interface CellStatistics {
  cell: string;
  runs: string[];
  /** metric key → mean over seeds and its 95% interval (NaN where no run has the metric) */
  metrics: Record<string, Interval & { perSeed: number[] }>;
  /** share of distinct reports, mean over seeds (a property of the whole set: not resampled) */
  distinctRate: number;
}

export interface Comparison {
  cell: string;
  baseline: string;
  metric: string;
  difference: number;
  ci95: [number, number];
  /** two-sided bootstrap p-value, before and after Holm's adjustment over this metric's comparisons */
  p: number;
  pHolm: number;
  significant: boolean;
}

export interface StudyStatistics {
  reports: number;
  seeds: number;
  resamples: number;
  bootstrapSeed: number;
  cells: CellStatistics[];
  comparisons: Comparison[];
}

function interval(values: Float64Array): [number, number] {
  const finite = Float64Array.from(values.filter((v) => Number.isFinite(v))).sort();
  if (finite.length === 0) return [NaN, NaN];
  return [percentile(finite, 0.025), percentile(finite, 0.975)];
}

/** Holm's step-down adjustment: adjusted p-values in the input order. */
export function holm(ps: readonly number[]): number[] {
  const order = ps.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(ps.length);
  let running = 0;
  order.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (ps.length - k) * p));
    out[i] = running;
  });
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const distinctRate = (r: RunResults): number => distinctCount(r.generated) / Math.max(r.generated.length, 1);

/**
 * cells: each cell's runs (one per seed), aligned to one report order (alignRuns). The baseline
 * must be one of the cells. Deterministic for a given bootstrapSeed.
 */
export function studyStatistics(
  cells: ReadonlyArray<{ cell: string; runs: RunResults[] }>,
  baseline: string,
  opts: { resamples?: number; bootstrapSeed?: number; metrics?: readonly StudyMetric[] } = {},
): StudyStatistics {
  const resamples = opts.resamples ?? 1000;
  const bootstrapSeed = opts.bootstrapSeed ?? 20261203;
  const metrics = opts.metrics ?? STUDY_METRICS;
  const n = cells[0]?.runs[0]?.ids.length ?? 0;
  if (!cells.some((c) => c.cell === baseline))
    throw new Error(`baseline ${baseline} is not one of the cells`);
  for (const c of cells) {
    if (c.runs.length === 0) throw new Error(`cell ${c.cell} has no finished run`);
    for (const r of c.runs)
      if (r.ids.length !== n)
        throw new Error(`${r.dir}: ${r.ids.length} reports, expected ${n} (align the runs first)`);
  }
  const all = Array.from({ length: n }, (_, i) => i);

  // replicate values: [cell][metric] → Float64Array(resamples)
  const reps = cells.map(() => metrics.map(() => new Float64Array(resamples)));
  const rand = mulberry32(bootstrapSeed);
  const idx = new Array<number>(n);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
    cells.forEach((c, ci) => {
      const k = c.runs.length;
      const picks = Array.from({ length: k }, () => Math.floor(rand() * k));
      // each distinct picked run is scored once per replicate
      const memo = new Map<number, number[]>();
      const score = (p: number) => {
        let v = memo.get(p);
        if (!v) memo.set(p, (v = metrics.map((m) => m.value(c.runs[p], idx))));
        return v;
      };
      metrics.forEach((_, mi) => {
        reps[ci][mi][b] = mean(picks.map((p) => score(p)[mi]));
      });
    });
  }

  const cellStats: CellStatistics[] = cells.map((c, ci) => ({
    cell: c.cell,
    runs: c.runs.map((r) => r.dir),
    metrics: Object.fromEntries(
      metrics.map((m, mi) => {
        const perSeed = c.runs.map((r) => m.value(r, all));
        return [m.key, { value: mean(perSeed), ci95: interval(reps[ci][mi]), perSeed }];
      }),
    ),
    distinctRate: mean(c.runs.map(distinctRate)),
  }));

  const bi = cells.findIndex((c) => c.cell === baseline);
  const comparisons: Comparison[] = [];
  metrics.forEach((m, mi) => {
    const rows: Comparison[] = [];
    cells.forEach((c, ci) => {
      if (ci === bi) return;
      const diff = cellStats[ci].metrics[m.key].value - cellStats[bi].metrics[m.key].value;
      if (!Number.isFinite(diff)) return;
      const d = reps[ci][mi].map((v, b) => v - reps[bi][mi][b]);
      const finite = d.filter((v) => Number.isFinite(v));
      const atMost = finite.filter((v) => v <= 0).length / finite.length;
      const atLeast = finite.filter((v) => v >= 0).length / finite.length;
      rows.push({
        cell: c.cell,
        baseline,
        metric: m.key,
        difference: diff,
        ci95: interval(d),
        p: Math.min(1, 2 * Math.min(atMost, atLeast)),
        pHolm: NaN,
        significant: false,
      });
    });
    holm(rows.map((r) => r.p)).forEach((p, i) => {
      rows[i].pHolm = p;
      rows[i].significant = p < 0.05;
    });
    comparisons.push(...rows);
  });

  return {
    reports: n,
    seeds: Math.max(...cells.map((c) => c.runs.length)),
    resamples,
    bootstrapSeed,
    cells: cellStats,
    comparisons,
  };
}

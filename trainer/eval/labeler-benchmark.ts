// The labeler scored against the IU X-ray human gold labels (296 validation studies), per mapped
// observation and pooled, on all studies and on each part of the labeler split (development, the
// third set aside), with bootstrap intervals and an error listing that names the cue or rule that
// decided each wrong label. The IU X-ray test split is held out and never read here.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChexpertLabel, LabelValue } from "../../common/chexpert.js";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import { bootstrapStatistic, type Estimate } from "./bootstrap.js";
import { labelReportDetailed, type DetailedLabels, type LabelerOptions } from "./chexpert-labeler.js";
import {
  isPositive,
  scoreCounts,
  tally,
  type Counts,
  type PRFScores,
  type UncertainPolicy,
} from "./clinical-metrics.js";
import { IU_GOLD_MAPPING, IU_GOLD_OPTIONAL, iuStudyKey, parseIuGold } from "./iu-gold.js";
import { splitLabelerStudies, type LabelerSplitPart } from "./labeler-split.js";

export type LabelScores = { label: ChexpertLabel } & PRFScores & Counts & { f1Ci95: [number, number] };

export interface LabelerPartScores {
  studies: number;
  perLabel: LabelScores[];
  /** pooled over the mapped observations (IU_GOLD_MAPPING) */
  micro: PRFScores & { f1Ci95: [number, number] };
  /** mean over the mapped observations present in this part's gold or predictions */
  macro: PRFScores & { f1Ci95: [number, number] };
  /** Infiltration → Lung Opacity, outside the headline */
  optional: LabelScores[];
}

export interface LabelerError {
  id: string;
  part: LabelerSplitPart;
  label: ChexpertLabel;
  gold: boolean;
  predicted: boolean;
  /** the labeler's value before the uncertain policy: 1, 0, -1 or null */
  value: LabelValue;
  /** the mentions of the label with their status and deciding cue, or No Finding's reason */
  cue: string;
  report: string;
}

export interface LabelerBenchmark extends LabelerPartScores {
  uncertainPolicy: UncertainPolicy;
  parts: Record<LabelerSplitPart, LabelerPartScores>;
  /** every study and mapped label (optional ones too) where the labeler and the gold disagree */
  errors: LabelerError[];
}

export interface LabelerBenchmarkOptions extends LabelerOptions {
  /** bootstrap resamples for the 95% intervals (default 1000) */
  bootstrap?: number;
  seed?: number;
}

interface IuReport {
  report: string;
}

export interface IuStudy {
  id: string;
  report: string;
  gold: Map<ChexpertLabel, boolean>;
  part: LabelerSplitPart;
}

export async function loadIuValidation(dir: string): Promise<IuStudy[]> {
  const reportsPath = join(dir, "reports-valid.json");
  const goldPath = join(dir, "labels-valid.csv");
  const reports = JSON.parse(await readFile(reportsPath, "utf8")) as Record<string, IuReport>;
  const gold = new Map(
    parseIuGold(await readFile(goldPath, "utf8"), goldPath).map((g) => [g.id, g.positives]),
  );
  const ids = Object.keys(reports).sort((a, b) => a.localeCompare(b));
  const parts = splitLabelerStudies(ids.map(iuStudyKey));
  return ids.map((id) => {
    const r = reports[id];
    const g = gold.get(iuStudyKey(id));
    if (!g) throw new Error(`${goldPath}: no gold row for study ${iuStudyKey(id)} (report ${id})`);
    if (typeof r.report !== "string") throw new Error(`${reportsPath}: study ${id} has no "report" text`);
    return { id, report: r.report, gold: g, part: parts.get(iuStudyKey(id)) ?? "development" };
  });
}

/** What decided a label, in words: its mentions with status and cue, or No Finding's reason. */
export function describeDecision(d: DetailedLabels, label: ChexpertLabel): string {
  if (label === "No Finding") return d.noFindingReason;
  const ms = d.mentions.filter((m) => m.label === label);
  if (ms.length === 0) return "no mention";
  return ms.map((m) => `"${m.text.toLowerCase()}" ${m.status} (${m.cue})`).join("; ");
}

function countsOf(idx: readonly number[], predicted: readonly boolean[], gold: readonly boolean[]): Counts {
  const c: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const n of idx) tally(c, predicted[n], gold[n]);
  return c;
}

const add = (a: Counts, b: Counts): Counts => ({
  tp: a.tp + b.tp,
  fp: a.fp + b.fp,
  fn: a.fn + b.fn,
  tn: a.tn + b.tn,
});

function scorePart(
  studies: readonly IuStudy[],
  values: readonly LabelValue[][],
  policy: UncertainPolicy,
  resamples: number,
  seed: number,
): LabelerPartScores {
  const all = studies.map((_, n) => n);
  const columns = (mapping: ReadonlyArray<[ChexpertLabel, string[]]>) =>
    mapping.map(([label]) => {
      const i = CHEXPERT_LABELS.indexOf(label);
      return {
        label,
        predicted: values.map((v) => isPositive(v[i], policy)),
        gold: studies.map((s) => s.gold.get(label) === true),
      };
    });
  const scoreColumns = (cols: ReturnType<typeof columns>): LabelScores[] =>
    cols.map((col, k) => {
      const c = countsOf(all, col.predicted, col.gold);
      const ci = bootstrapStatistic(
        all.length,
        (idx) => scoreCounts(countsOf(idx, col.predicted, col.gold)).f1,
        resamples,
        seed + k,
      );
      return { label: col.label, ...c, ...scoreCounts(c), f1Ci95: ci.ci95 };
    });
  const main = columns(IU_GOLD_MAPPING);
  const zero: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const micro = (idx: readonly number[]): PRFScores =>
    scoreCounts(main.reduce((a, col) => add(a, countsOf(idx, col.predicted, col.gold)), zero));
  // A label with no gold positive and no prediction in a part has no F1 there; the mean skips it.
  const macro = (idx: readonly number[]): PRFScores => {
    const scored = main
      .map((col) => countsOf(idx, col.predicted, col.gold))
      .filter((c) => c.tp + c.fp + c.fn > 0)
      .map(scoreCounts);
    const mean = (f: (r: PRFScores) => number): number =>
      scored.length ? scored.reduce((a, r) => a + f(r), 0) / scored.length : 0;
    return {
      precision: mean((r) => r.precision),
      recall: mean((r) => r.recall),
      f1: mean((r) => r.f1),
      support: scored.reduce((a, r) => a + r.support, 0),
    };
  };
  const ci = (stat: (idx: readonly number[]) => number, s: number): Estimate =>
    bootstrapStatistic(all.length, stat, resamples, s);
  return {
    studies: studies.length,
    perLabel: scoreColumns(main),
    micro: { ...micro(all), f1Ci95: ci((idx) => micro(idx).f1, seed + 100).ci95 },
    macro: { ...macro(all), f1Ci95: ci((idx) => macro(idx).f1, seed + 101).ci95 },
    optional: scoreColumns(columns(IU_GOLD_OPTIONAL)),
  };
}

export async function benchmarkLabeler(
  dir: string,
  policy: UncertainPolicy,
  opts: LabelerBenchmarkOptions = {},
): Promise<LabelerBenchmark> {
  const { bootstrap = 1000, seed = 0, ...labelerOpts } = opts;
  const studies = await loadIuValidation(dir);
  const detailed = studies.map((s) => labelReportDetailed(s.report, labelerOpts));
  const values = detailed.map((d) => d.labels);

  const errors: LabelerError[] = [];
  for (const [label] of [...IU_GOLD_MAPPING, ...IU_GOLD_OPTIONAL]) {
    const i = CHEXPERT_LABELS.indexOf(label);
    studies.forEach((s, n) => {
      const predicted = isPositive(values[n][i], policy);
      const gold = s.gold.get(label) === true;
      if (predicted === gold) return;
      const cue = describeDecision(detailed[n], label);
      errors.push({
        id: s.id,
        part: s.part,
        label,
        gold,
        predicted,
        value: values[n][i],
        cue,
        report: s.report,
      });
    });
  }

  const partOf = (part: LabelerSplitPart): LabelerPartScores => {
    const idx = studies.flatMap((s, n) => (s.part === part ? [n] : []));
    return scorePart(
      idx.map((n) => studies[n]),
      idx.map((n) => values[n]),
      policy,
      bootstrap,
      seed,
    );
  };
  return {
    uncertainPolicy: policy,
    ...scorePart(studies, values, policy, bootstrap, seed),
    parts: { development: partOf("development"), "set-aside": partOf("set-aside") },
    errors,
  };
}

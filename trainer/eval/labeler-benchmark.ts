// The labeler scored against the IU X-ray human gold labels (296 validation studies), per mapped
// observation and pooled. The IU X-ray test split is held out and never read here.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChexpertLabel } from "../../common/chexpert.js";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import { labelReport, type LabelerOptions } from "./chexpert-labeler.js";
import {
  isPositive,
  scoreCounts,
  type Counts,
  type PRFScores,
  type UncertainPolicy,
} from "./clinical-metrics.js";
import { IU_GOLD_MAPPING, IU_GOLD_OPTIONAL, iuStudyKey, parseIuGold } from "./iu-gold.js";

export interface LabelerBenchmark {
  studies: number;
  uncertainPolicy: UncertainPolicy;
  perLabel: Array<{ label: ChexpertLabel } & PRFScores & Counts>;
  /** pooled over the mapped observations (IU_GOLD_MAPPING) */
  micro: PRFScores;
  macro: PRFScores;
  /** Infiltration → Lung Opacity, outside the headline */
  optional: Array<{ label: ChexpertLabel } & PRFScores & Counts>;
  /** studies where the labeler and gold disagree, for reading */
  disagreements: Array<{
    id: string;
    label: ChexpertLabel;
    gold: boolean;
    predicted: boolean;
    report: string;
  }>;
}

interface IuReport {
  report: string;
}

export async function loadIuValidation(
  dir: string,
): Promise<Array<{ id: string; report: string; gold: Map<ChexpertLabel, boolean> }>> {
  const reportsPath = join(dir, "reports-valid.json");
  const goldPath = join(dir, "labels-valid.csv");
  const reports = JSON.parse(await readFile(reportsPath, "utf8")) as Record<string, IuReport>;
  const gold = new Map(
    parseIuGold(await readFile(goldPath, "utf8"), goldPath).map((g) => [g.id, g.positives]),
  );
  return Object.entries(reports)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, r]) => {
      const g = gold.get(iuStudyKey(id));
      if (!g) throw new Error(`${goldPath}: no gold row for study ${iuStudyKey(id)} (report ${id})`);
      if (typeof r.report !== "string") throw new Error(`${reportsPath}: study ${id} has no "report" text`);
      return { id, report: r.report, gold: g };
    });
}

export async function benchmarkLabeler(
  dir: string,
  policy: UncertainPolicy,
  opts: LabelerOptions = {},
): Promise<LabelerBenchmark> {
  const studies = await loadIuValidation(dir);
  const predicted = studies.map((s) => labelReport(s.report, opts));
  const disagreements: LabelerBenchmark["disagreements"] = [];
  const score = (
    mapping: ReadonlyArray<[ChexpertLabel, string[]]>,
  ): Array<{ label: ChexpertLabel } & PRFScores & Counts> =>
    mapping.map(([label]) => {
      const i = CHEXPERT_LABELS.indexOf(label);
      const c: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
      studies.forEach((s, n) => {
        const p = isPositive(predicted[n][i], policy);
        const g = s.gold.get(label) === true;
        if (p && g) c.tp++;
        else if (p) c.fp++;
        else if (g) c.fn++;
        else c.tn++;
        if (p !== g) disagreements.push({ id: s.id, label, gold: g, predicted: p, report: s.report });
      });
      return { label, ...c, ...scoreCounts(c) };
    });
  const perLabel = score(IU_GOLD_MAPPING);
  const optional = score(IU_GOLD_OPTIONAL);
  const sum = perLabel.reduce(
    (a, r) => ({ tp: a.tp + r.tp, fp: a.fp + r.fp, fn: a.fn + r.fn, tn: a.tn + r.tn }),
    { tp: 0, fp: 0, fn: 0, tn: 0 },
  );
  const mean = (f: (r: PRFScores) => number): number =>
    perLabel.reduce((a, r) => a + f(r), 0) / perLabel.length;
  return {
    studies: studies.length,
    uncertainPolicy: policy,
    perLabel,
    micro: scoreCounts(sum),
    macro: {
      precision: mean((r) => r.precision),
      recall: mean((r) => r.recall),
      f1: mean((r) => r.f1),
      support: sum.tp + sum.fn,
    },
    optional,
    disagreements,
  };
}

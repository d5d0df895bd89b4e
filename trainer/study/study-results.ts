// A finished run's per-report results, as a study compares them: from eval/final/report.json (the
// labels, audit and ROUGE-L of every report) and eval/final/predictions.jsonl (the texts and the
// classifier head's probabilities).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { LabelVector } from "../../common/chexpert.js";
import type { EvalReport, UncertainPolicy } from "../eval/index.js";

export interface RunResults {
  dir: string;
  policy: UncertainPolicy;
  /** report ids, in the order of every array below */
  ids: string[];
  generated: string[];
  fullyAccurate: boolean[];
  hallucinated: boolean[];
  omitted: boolean[];
  rougeL: number[];
  generatedLabels: LabelVector[];
  referenceLabels: LabelVector[];
  /** absent when the run's predictions carry no head probabilities */
  headProbs?: number[][];
  headTargets?: LabelVector[];
  /** present when the run wrote findings tables (findingsTable output or prompt) */
  consistentWithTable?: boolean[];
}

interface Prediction {
  id: string;
  generated: string;
  headProbs?: number[];
  headTargets?: LabelVector;
}

export async function loadRunResults(dir: string): Promise<RunResults> {
  const at = (f: string) => join(dir, "eval", "final", f);
  let report: EvalReport;
  let lines: string[];
  try {
    report = JSON.parse(await readFile(at("report.json"), "utf8")) as EvalReport;
    lines = (await readFile(at("predictions.jsonl"), "utf8")).split("\n").filter((l) => l.trim());
  } catch (err) {
    throw new Error(
      `${dir}: no final evaluation (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: needs eval/final/report.json and predictions.jsonl)`,
    );
  }
  const predictions = new Map<string, Prediction>();
  lines.forEach((l, i) => {
    try {
      const p = JSON.parse(l) as Prediction;
      predictions.set(p.id, p);
    } catch {
      throw new Error(`${at("predictions.jsonl")}: line ${i + 1} is not JSON`);
    }
  });
  const rows = report.reports;
  const preds = rows.map((r) => {
    const p = predictions.get(r.id);
    if (!p) throw new Error(`${dir}: report ${r.id} is in report.json but not in predictions.jsonl`);
    return p;
  });
  const withHead = preds.every((p) => p.headProbs && p.headTargets);
  const withTable = rows.every((r) => r.selfConsistency);
  return {
    dir,
    policy: report.uncertainPolicy,
    ids: rows.map((r) => r.id),
    generated: preds.map((p) => p.generated),
    fullyAccurate: rows.map((r) => r.audit.fullyAccurate),
    hallucinated: rows.map((r) => r.audit.hallucinated.length > 0),
    omitted: rows.map((r) => r.audit.omitted.length > 0),
    rougeL: rows.map((r) => r.rougeL_rouge_score.fmeasure),
    generatedLabels: rows.map((r) => r.generatedLabels),
    referenceLabels: rows.map((r) => r.referenceLabels),
    ...(withHead
      ? { headProbs: preds.map((p) => p.headProbs!), headTargets: preds.map((p) => p.headTargets!) }
      : {}),
    ...(withTable && rows.length
      ? { consistentWithTable: rows.map((r) => r.selfConsistency!.consistent) }
      : {}),
  };
}

/**
 * The runs' results in one report order (the first run's), so a bootstrap draws the same reports
 * in every run. Throws naming the run whose reports differ: a study compares runs on the same split.
 */
export function alignRuns(runs: RunResults[]): RunResults[] {
  if (runs.length === 0) return runs;
  const order = runs[0].ids;
  const want = new Set(order);
  return runs.map((r) => {
    if (r.ids.length !== order.length || !r.ids.every((id) => want.has(id))) {
      const extra = r.ids.find((id) => !want.has(id));
      const missing = order.find((id) => !r.ids.includes(id));
      throw new Error(
        `${r.dir}: evaluated other reports than ${runs[0].dir} (${r.ids.length} vs ${order.length}; ` +
          `${extra ? `has ${extra}` : `lacks ${missing}`}): runs in a study must evaluate the same split and maxSamples`,
      );
    }
    if (r.policy !== runs[0].policy)
      throw new Error(`${r.dir}: uncertain labels count ${r.policy}, ${runs[0].dir}: ${runs[0].policy}`);
    const pos = new Map(r.ids.map((id, i) => [id, i]));
    const perm = order.map((id) => pos.get(id)!);
    const pick = <T>(xs: T[]): T[] => perm.map((i) => xs[i]);
    return {
      dir: r.dir,
      policy: r.policy,
      ids: order,
      generated: pick(r.generated),
      fullyAccurate: pick(r.fullyAccurate),
      hallucinated: pick(r.hallucinated),
      omitted: pick(r.omitted),
      rougeL: pick(r.rougeL),
      generatedLabels: pick(r.generatedLabels),
      referenceLabels: pick(r.referenceLabels),
      ...(r.headProbs ? { headProbs: pick(r.headProbs), headTargets: pick(r.headTargets!) } : {}),
      ...(r.consistentWithTable ? { consistentWithTable: pick(r.consistentWithTable) } : {}),
    };
  });
}

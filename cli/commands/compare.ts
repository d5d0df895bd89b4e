// `radfleet compare RUN_DIR...`: runs side by side — what differs in their specs, and their final
// evaluation with 95% confidence intervals — so an ablation reads as one table.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseCommandLine, usageError } from "../../common/cli.js";
import { markdownTable } from "../../common/markdown.js";
import YAML from "yaml";
import { bootstrapStatistic, clinicalMetrics, type EvalReport } from "../../trainer/eval/index.js";

export interface RunSummary {
  dir: string;
  spec: Record<string, unknown>;
  report: EvalReport;
}

function flatten(v: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(v);
  return out;
}

/** Spec fields whose values differ between runs (paths that only locate data or outputs excluded). */
export function specDifferences(
  specs: Array<Record<string, unknown>>,
): Array<{ field: string; values: string[] }> {
  const flat = specs.map((s) => flatten(s));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  return keys
    .map((field) => ({ field, values: flat.map((f) => f[field] ?? "—") }))
    .filter((d) => new Set(d.values).size > 1);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ci = (e: { value: number; ci95: [number, number] }) =>
  `${pct(e.value)} [${pct(e.ci95[0])}, ${pct(e.ci95[1])}]`;

const RESAMPLES = 1000;

/** Mean per-report ROUGE-L F with its 95% bootstrap interval, from the per-report results. */
function rougeCi(r: EvalReport): string {
  const f = r.reports.map((x) => x.rougeL_rouge_score.fmeasure);
  const e = bootstrapStatistic(
    f.length,
    (ix) => ix.reduce((a, i) => a + f[i], 0) / ix.length,
    RESAMPLES,
    r.bootstrap.seed + 11,
  );
  return `${e.value.toFixed(4)} [${e.ci95[0].toFixed(4)}, ${e.ci95[1].toFixed(4)}]`;
}

/** Corpus-level clinical F1 (micro over 14) with its 95% bootstrap interval over reports. */
function clinicalCi(r: EvalReport): string {
  const gen = r.reports.map((x) => x.generatedLabels);
  const ref = r.reports.map((x) => x.referenceLabels);
  const e = bootstrapStatistic(
    gen.length,
    (ix) =>
      clinicalMetrics(
        ix.map((i) => gen[i]),
        ix.map((i) => ref[i]),
        r.uncertainPolicy,
      ).micro14.f1,
    RESAMPLES,
    r.bootstrap.seed + 12,
  );
  return `${e.value.toFixed(4)} [${e.ci95[0].toFixed(4)}, ${e.ci95[1].toFixed(4)}]`;
}

/** The comparison rows: metric name, then one cell per run. */
export function comparisonRows(runs: RunSummary[]): Array<[string, ...string[]]> {
  const rows: Array<[string, ...string[]]> = [];
  const add = (name: string, f: (r: EvalReport) => string) =>
    rows.push([name, ...runs.map((r) => f(r.report))]);
  add("reports evaluated", (r) => String(r.count));
  add("ROUGE-L F (rouge-score) [95% CI]", rougeCi);
  add("ROUGE-L F (pycocoevalcap)", (r) => r.ngram.rougeL_coco.toFixed(4));
  add("BLEU-4 (pycocoevalcap)", (r) => r.ngram.bleu_coco.bleu4.toFixed(4));
  add(`clinical F1 micro-14 (uncertain ${runs[0]?.report.uncertainPolicy}) [95% CI]`, clinicalCi);
  add("clinical F1 micro-5", (r) => r.clinical.micro5.f1.toFixed(4));
  add("fully accurate [95% CI]", (r) => ci(r.audit.fullyAccurate));
  add("hallucination [95% CI]", (r) => ci(r.audit.hallucination));
  add("omission [95% CI]", (r) => ci(r.audit.omission));
  if (runs.some((r) => r.report.selfConsistency)) {
    add("consistent with own table [95% CI]", (r) =>
      r.selfConsistency ? ci(r.selfConsistency.consistent) : "— (no table)",
    );
    add("contradicts own table [95% CI]", (r) =>
      r.selfConsistency ? ci(r.selfConsistency.contradiction) : "—",
    );
    add("omits own table's finding [95% CI]", (r) =>
      r.selfConsistency ? ci(r.selfConsistency.unreported) : "—",
    );
  }
  add("head macro F1", (r) => (r.head ? r.head.macroF1.toFixed(4) : "—"));
  add("head macro AUROC", (r) => (r.head?.macroAuroc != null ? r.head.macroAuroc.toFixed(4) : "—"));
  // Reports written before radfleet counted them have no diversity section.
  add("distinct reports", (r) =>
    (r.diversity as EvalReport["diversity"] | undefined)
      ? `${(100 * r.diversity.distinctRate).toFixed(1)}%`
      : "—",
  );
  add("reports repeating a sentence", (r) =>
    (r.diversity as EvalReport["diversity"] | undefined)
      ? `${(100 * r.diversity.repeatingRate).toFixed(1)}%`
      : "—",
  );
  return rows;
}

export async function loadRun(dir: string): Promise<RunSummary> {
  let specText: string;
  let reportText: string;
  try {
    specText = await readFile(join(dir, "spec.yaml"), "utf8");
    reportText = await readFile(join(dir, "eval", "final", "report.json"), "utf8");
  } catch (err) {
    throw new Error(
      `${dir}: not a finished run directory (${(err as NodeJS.ErrnoException).code}: needs spec.yaml and eval/final/report.json)`,
    );
  }
  return {
    dir,
    spec: YAML.parse(specText) as Record<string, unknown>,
    report: JSON.parse(reportText) as EvalReport,
  };
}

const USAGE = `usage: radfleet compare RUN_DIR... [--json]
  Side-by-side spec differences and final evaluation of finished runs.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, { json: { type: "boolean", default: false } }, USAGE, {
    positionals: true,
  });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length < 1) return usageError("at least one run directory is required", USAGE);
  const runs = await Promise.all(positionals.map(loadRun));
  const diffs = specDifferences(runs.map((r) => r.spec));
  const rows = comparisonRows(runs);
  if (values.json) {
    console.log(
      JSON.stringify({ runs: runs.map((r) => r.dir), specDifferences: diffs, metrics: rows }, null, 2),
    );
    return 0;
  }
  const names = runs.map((r) => r.dir.replace(/\/+$/, "").split("/").pop()!);
  console.log("Spec differences:\n");
  console.log(
    diffs.length
      ? markdownTable(
          ["field", ...names],
          diffs.map((d) => [d.field, ...d.values]),
        )
      : "(none)",
  );
  console.log("\nFinal evaluation:\n");
  console.log(markdownTable(["metric", ...names], rows));
  return 0;
}

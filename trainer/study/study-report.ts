// The study's outputs: results.json (everything, machine-readable) and results.md (the tables a
// reader compares: each cell's mean over seeds with its 95% interval, then each cell's difference
// from the baseline with its p-value).
import { markdownTable } from "../../common/markdown.js";
import type { StudyPlan } from "./study-spec.js";
import { STUDY_METRICS, type StudyStatistics } from "./study-statistics.js";

export interface StudyResults {
  schema: "radfleet.study/v1";
  name: string;
  date: string;
  command: string;
  base: string;
  set: Record<string, unknown>;
  cells: Array<{ id: string; overrides: Record<string, unknown> }>;
  seeds: number[];
  baseline: string;
  method: string;
  statistics: StudyStatistics;
}

export const STUDY_METHOD =
  "Per cell: the mean over its seeds of each metric on the evaluated reports. 95% interval: percentile " +
  "two-stage bootstrap, each replicate drawing the cell's seeds with replacement and the reports with " +
  "replacement (the same reports for every cell in a replicate, so differences are paired over reports). " +
  "Difference from the baseline: the same replicates; p: two-sided bootstrap p-value, Holm-adjusted over " +
  "the cells compared with the baseline on that metric; significant when the adjusted p < 0.05.";

export function studyResults(
  plan: StudyPlan,
  stats: StudyStatistics,
  command: string,
  date = new Date(),
): StudyResults {
  return {
    schema: "radfleet.study/v1",
    name: plan.name,
    date: date.toISOString().slice(0, 10),
    command,
    base: plan.base,
    set: plan.set,
    cells: plan.cells.map((c) => ({ id: c.id, overrides: c.overrides })),
    seeds: plan.seeds,
    baseline: plan.baseline,
    method: STUDY_METHOD,
    statistics: stats,
  };
}

const overridesText = (o: Record<string, unknown>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ") || "(base)";

export function renderStudyMarkdown(r: StudyResults): string {
  const s = r.statistics;
  const shown = STUDY_METRICS.filter((m) => s.cells.some((c) => Number.isFinite(c.metrics[m.key]?.value)));
  const fmt = (rate: boolean, v: number) =>
    !Number.isFinite(v) ? "—" : rate ? `${(100 * v).toFixed(1)}%` : v.toFixed(3);
  const fmtDiff = (rate: boolean, v: number) =>
    !Number.isFinite(v) ? "—" : `${v >= 0 ? "+" : "−"}${fmt(rate, Math.abs(v))}`;
  const cellRows = s.cells.map((c) => [
    c.cell,
    ...shown.map((m) => {
      const e = c.metrics[m.key];
      return Number.isFinite(e.value)
        ? `${fmt(m.rate, e.value)} [${fmt(m.rate, e.ci95[0])}, ${fmt(m.rate, e.ci95[1])}]`
        : "—";
    }),
    `${(100 * c.distinctRate).toFixed(0)}%`,
  ]);
  const cmpRows = s.cells
    .filter((c) => c.cell !== r.baseline)
    .map((c) => [
      c.cell,
      ...shown.map((m) => {
        const d = s.comparisons.find((x) => x.cell === c.cell && x.metric === m.key);
        if (!d) return "—";
        return `${fmtDiff(m.rate, d.difference)} [${fmtDiff(m.rate, d.ci95[0])}, ${fmtDiff(m.rate, d.ci95[1])}] p=${d.pHolm < 0.001 ? "<0.001" : d.pHolm.toFixed(3)}${d.significant ? " *" : ""}`;
      }),
    ]);
  const seedNote =
    s.seeds < 2
      ? "\nOne seed per cell: the intervals reflect report resampling only, not run-to-run variation.\n"
      : "";
  return [
    `# Study ${r.name}`,
    "",
    `${r.date}, \`${r.command}\`. Base spec \`${r.base}\`; every run: ${overridesText(r.set)}. ` +
      `Seeds ${r.seeds.join(", ")}; ${s.reports} evaluated reports per run; ${s.resamples} bootstrap replicates.`,
    "",
    "## Cells",
    "",
    markdownTable(
      ["cell", "overrides"],
      r.cells.map((c) => [c.id + (c.id === r.baseline ? " (baseline)" : ""), overridesText(c.overrides)]),
    ),
    "",
    "## Mean over seeds [95% interval]",
    "",
    markdownTable(["cell", ...shown.map((m) => m.label), "distinct reports"], cellRows),
    seedNote,
    `## Difference from ${r.baseline} [95% interval], Holm-adjusted p (* p < 0.05)`,
    "",
    cmpRows.length
      ? markdownTable(["cell", ...shown.map((m) => m.label)], cmpRows)
      : "(one cell: nothing to compare)",
    "",
    `Hallucination and omission are better when lower. ${r.method}`,
    "",
  ].join("\n");
}

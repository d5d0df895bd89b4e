// writeEvalReport(): report.json (every metric, named by variant), report.md (tables and the worst
// examples) and SVG plots, each written atomically (temporary name, fsync, rename).

import { mkdir, open, rename } from "node:fs/promises";
import { join } from "node:path";
import { CHEXPERT_5, CHEXPERT_LABELS } from "../../common/chexpert.js";
import type { Estimate } from "./bootstrap.js";
import { renderPlots } from "./eval-plots.js";
import { headline, type EvalReport } from "./evaluate.js";

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

const f3 = (x: number): string => x.toFixed(3);
const pct = (e: Estimate): string =>
  `${(100 * e.value).toFixed(1)}% [${(100 * e.ci95[0]).toFixed(1)}, ${(100 * e.ci95[1]).toFixed(1)}]`;
const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\s+/g, " ");

export function renderMarkdown(report: EvalReport): string {
  const n = report.ngram;
  const c = report.clinical;
  const lines: string[] = [];
  lines.push(`# radfleet evaluation`, "");
  lines.push(
    `${report.count} reports; uncertain labels counted as **${report.uncertainPolicy}**; bootstrap ${report.bootstrap.resamples} resamples, seed ${report.bootstrap.seed}.`,
    "",
  );
  lines.push(
    "## Report text metrics (named by implementation)",
    "",
    "| metric | P | R | F |",
    "|---|---|---|---|",
  );
  for (const [name, v] of [
    ["rougeL_rouge_score", n.rougeL_rouge_score],
    ["rougeL_rouge_score_stemmed", n.rougeL_rouge_score_stemmed],
    ["rougeLsum_rouge_score", n.rougeLsum_rouge_score],
    ["rougeLsum_rouge_score_stemmed", n.rougeLsum_rouge_score_stemmed],
  ] as const) {
    lines.push(`| ${name} | ${f3(v.precision)} | ${f3(v.recall)} | ${f3(v.fmeasure)} |`);
  }
  lines.push(`| rougeL_coco (β=1.2) | | | ${f3(n.rougeL_coco)} |`, "");
  lines.push(`| bleu1_coco | bleu2_coco | bleu3_coco | bleu4_coco |`, "|---|---|---|---|");
  lines.push(
    `| ${f3(n.bleu_coco.bleu1)} | ${f3(n.bleu_coco.bleu2)} | ${f3(n.bleu_coco.bleu3)} | ${f3(n.bleu_coco.bleu4)} |`,
    "",
  );
  lines.push(
    "## Clinical efficacy (CheXpert-style labeler)",
    "",
    "| set | micro P | micro R | micro F1 | macro F1 |",
    "|---|---|---|---|---|",
  );
  lines.push(
    `| 14 observations | ${f3(c.micro14.precision)} | ${f3(c.micro14.recall)} | ${f3(c.micro14.f1)} | ${f3(c.macro14.f1)} |`,
  );
  lines.push(
    `| 5 (${CHEXPERT_5.join(", ")}) | ${f3(c.micro5.precision)} | ${f3(c.micro5.recall)} | ${f3(c.micro5.f1)} | ${f3(c.macro5.f1)} |`,
    "",
  );
  lines.push(
    "| observation | P | R | F1 | support | hallucinated | omitted | wrong side |",
    "|---|---|---|---|---|---|---|---|",
  );
  for (const l of CHEXPERT_LABELS) {
    const p = c.perLabel[l];
    const a = report.audit.byLabel[l];
    lines.push(
      `| ${l} | ${f3(p.precision)} | ${f3(p.recall)} | ${f3(p.f1)} | ${p.support} | ${a.hallucinated} | ${a.omitted} | ${a.wrongLaterality} |`,
    );
  }
  lines.push("", "## Fact audit (per report, 95% bootstrap CI)", "", "| rate | value |", "|---|---|");
  lines.push(`| fully accurate | ${pct(report.audit.fullyAccurate)} |`);
  lines.push(`| hallucinated a finding | ${pct(report.audit.hallucination)} |`);
  lines.push(`| omitted a finding | ${pct(report.audit.omission)} |`);
  lines.push(`| wrong laterality | ${pct(report.audit.wrongLaterality)} |`, "");
  const d = report.diversity;
  lines.push(
    "## Text diversity",
    "",
    `${d.distinct} distinct reports of ${d.reports}; ${d.repeating} repeat a sentence (references: ${d.referenceRepeating}).`,
    "",
    ...d.examples.map((e) => `- ${e.id} says again: ${e.repeated.map((s) => `"${s}"`).join(", ")}`),
    ...(d.examples.length > 0 ? [""] : []),
  );
  if (report.selfConsistency) {
    const s = report.selfConsistency;
    lines.push(
      "## Self-consistency (each report against the model's own findings table, 95% bootstrap CI)",
      "",
      "| rate | value |",
      "|---|---|",
      `| consistent with its table | ${pct(s.consistent)} |`,
      `| contradicts its table | ${pct(s.contradiction)} |`,
      `| leaves out a finding its table has | ${pct(s.unreported)} |`,
      "",
    );
  }
  if (report.head) {
    const h = report.head;
    lines.push(
      "## Auxiliary head",
      "",
      `macro F1 ${f3(h.macroF1)} (threshold ${h.threshold}); macro AUROC ${h.macroAuroc === null ? "n/a" : f3(h.macroAuroc)}`,
      "",
    );
    lines.push("| observation | F1 | AUROC | support |", "|---|---|---|---|");
    for (const l of CHEXPERT_LABELS) {
      const p = h.perLabel[l];
      lines.push(`| ${l} | ${f3(p.f1)} | ${p.auroc === null ? "n/a" : f3(p.auroc)} | ${p.support} |`);
    }
    lines.push("");
  }
  lines.push("## Worst examples", "");
  if (report.audit.worst.length === 0)
    lines.push("No report has a hallucination, omission or laterality error.", "");
  for (const w of report.audit.worst) {
    lines.push(`### ${w.id} (${w.errors} errors, rougeL_rouge_score F ${f3(w.rougeL_rouge_score_f)})`, "");
    if (w.hallucinated.length) lines.push(`- hallucinated: ${w.hallucinated.join(", ")}`);
    if (w.omitted.length) lines.push(`- omitted: ${w.omitted.join(", ")}`);
    if (w.wrongLaterality.length) lines.push(`- wrong side: ${w.wrongLaterality.join(", ")}`);
    lines.push(`- generated: ${cell(w.generated)}`, `- reference: ${cell(w.reference)}`, "");
  }
  lines.push(
    "## Plots",
    "",
    "![per-label F1](per-label-f1.svg)",
    "",
    "![confusion](confusion-by-observation.svg)",
    "",
  );
  if (report.head) lines.push("![head](head-per-label.svg)", "");
  lines.push("## Variants", "");
  for (const [k, v] of Object.entries(report.variants)) lines.push(`- **${k}**: ${v}`);
  lines.push("");
  return lines.join("\n");
}

export async function writeEvalReport(dir: string, report: EvalReport): Promise<void> {
  await mkdir(dir, { recursive: true });
  const plots = await renderPlots(report);
  for (const [name, svg] of Object.entries(plots)) await writeAtomic(join(dir, name), svg);
  await writeAtomic(join(dir, "report.md"), renderMarkdown(report));
  // report.json last: its presence means the rest is there.
  await writeAtomic(
    join(dir, "report.json"),
    JSON.stringify({ headline: headline(report), ...report }, null, 1) + "\n",
  );
}

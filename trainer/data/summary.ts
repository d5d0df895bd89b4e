// What `radfleet data check` prints: skips by reason, studies per split, label prevalence.
import { CHEXPERT_LABELS, type ChexpertLabel } from "../../common/chexpert.js";
import type { Dataset, SkipReason, Split } from "./types.js";

export interface DatasetSummary {
  format: Dataset["format"];
  root: string;
  studies: number;
  perSplit: Record<Split, number>;
  skipped: Record<SkipReason, number>;
  /** Per observation: counts of 1, 0, -1 and blank, and positive prevalence (1s over studies). */
  labels: Record<
    ChexpertLabel,
    { positive: number; negative: number; uncertain: number; blank: number; prevalence: number }
  >;
}

export function summarize(ds: Dataset): DatasetSummary {
  const perSplit: Record<Split, number> = { train: 0, validate: 0, test: 0 };
  for (const e of ds.examples) perSplit[e.split]++;
  const labels = {} as DatasetSummary["labels"];
  CHEXPERT_LABELS.forEach((l, i) => {
    const c = { positive: 0, negative: 0, uncertain: 0, blank: 0, prevalence: 0 };
    for (const e of ds.examples) {
      const v = e.labels[i];
      if (v === 1) c.positive++;
      else if (v === 0) c.negative++;
      else if (v === -1) c.uncertain++;
      else c.blank++;
    }
    c.prevalence = ds.examples.length ? c.positive / ds.examples.length : 0;
    labels[l] = c;
  });
  return {
    format: ds.format,
    root: ds.root,
    studies: ds.examples.length,
    perSplit,
    skipped: { ...ds.skipped },
    labels,
  };
}

export function formatSummary(s: DatasetSummary): string {
  const lines = [`${s.format} data set at ${s.root}: ${s.studies} studies loaded`];
  lines.push(
    `  per split: train ${s.perSplit.train}, validate ${s.perSplit.validate}, test ${s.perSplit.test}`,
  );
  const skips = Object.entries(s.skipped).sort((a, b) => b[1] - a[1]);
  lines.push(`  skipped: ${skips.length === 0 ? "none" : skips.map(([r, n]) => `${r} ${n}`).join(", ")}`);
  lines.push("  labels (positive / uncertain / negative / blank, prevalence of positives):");
  for (const l of CHEXPERT_LABELS) {
    const c = s.labels[l];
    lines.push(
      `    ${l.padEnd(28)} ${String(c.positive).padStart(6)} ${String(c.uncertain).padStart(6)} ${String(c.negative).padStart(6)} ${String(c.blank).padStart(6)}  ${(100 * c.prevalence).toFixed(1).padStart(5)}%`,
    );
  }
  return lines.join("\n");
}

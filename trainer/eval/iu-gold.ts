// The IU X-ray human gold labels (NegBio's openi_gld_std14.csv, ChestX-ray14 names + "normal") mapped
// to CheXpert observations as shared/data/iu-xray/README.md says. Only the mapped observations are
// comparable; the rest are left out of any score.

import type { ChexpertLabel } from "../../common/chexpert.js";

/** CheXpert observation → the gold columns whose OR gives it. */
export const IU_GOLD_MAPPING: ReadonlyArray<[ChexpertLabel, string[]]> = [
  ["Atelectasis", ["Atelectasis"]],
  ["Cardiomegaly", ["Cardiomegaly"]],
  ["Consolidation", ["Consolidation"]],
  ["Edema", ["Edema"]],
  ["Lung Lesion", ["Mass", "Nodule"]],
  ["No Finding", ["normal"]],
  ["Pleural Effusion", ["Effusion"]],
  ["Pleural Other", ["Pleural_Thickening"]],
  ["Pneumonia", ["Pneumonia"]],
  ["Pneumothorax", ["Pneumothorax"]],
];

/** "Usually read as Lung Opacity" (README): reported separately, not in the headline micro F1. */
export const IU_GOLD_OPTIONAL: ReadonlyArray<[ChexpertLabel, string[]]> = [
  ["Lung Opacity", ["Infiltration"]],
];

export interface IuGoldRow {
  /** study key as in the CSV, e.g. "CXR24" */
  id: string;
  /** gold positives per mapped CheXpert observation */
  positives: Map<ChexpertLabel, boolean>;
}

/** Parse labels-valid.csv; every row must have the header's column count and 0/1 values. */
export function parseIuGold(csv: string, source = "labels-valid.csv"): IuGoldRow[] {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length === 0) throw new Error(`${source}: empty file; expected a header and one row per study`);
  const header = lines[0].split(",").map((h) => h.trim());
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0)
      throw new Error(`${source}: no column "${name}" in header; is this the NegBio openi gold standard?`);
    return i;
  };
  const idCol = col("filename");
  const mapping = [...IU_GOLD_MAPPING, ...IU_GOLD_OPTIONAL].map(
    ([label, cols]) => [label, cols.map(col)] as const,
  );
  return lines.slice(1).map((line, n) => {
    const cells = line.split(",").map((c) => c.trim());
    if (cells.length !== header.length) {
      throw new Error(`${source}: row ${n + 2} has ${cells.length} cells, header has ${header.length}`);
    }
    const positives = new Map<ChexpertLabel, boolean>();
    for (const [label, idx] of mapping) {
      positives.set(
        label,
        idx.some((i) => {
          if (cells[i] !== "0" && cells[i] !== "1") {
            throw new Error(
              `${source}: row ${n + 2} column ${header[i]}: expected 0 or 1, got "${cells[i]}"`,
            );
          }
          return cells[i] === "1";
        }),
      );
    }
    return { id: cells[idCol], positives };
  });
}

/** "CXR2279_IM-0865" → "CXR2279", the key the gold CSV uses. */
export function iuStudyKey(reportId: string): string {
  return reportId.split("_")[0];
}

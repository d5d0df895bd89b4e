// Self-consistency: does a generated report agree with the findings table the same model produced?
// The labeler reads the report; over the 13 findings (No Finding is derived, so left out):
//   contradicted — the table says present and the report denies it, or the table says absent and
//                  the report asserts it;
//   unreported   — the table says present and the report neither asserts nor denies it.
// Rows the table leaves uncertain or not mentioned constrain nothing. A report is consistent with
// its table when nothing is contradicted or unreported.

import type { ChexpertLabel, LabelVector } from "../../common/chexpert.js";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import { isPositive, type UncertainPolicy } from "./clinical-metrics.js";
import type { FindingsTable } from "./findings-table.js";

export interface TableConsistency {
  consistent: boolean;
  contradicted: ChexpertLabel[];
  unreported: ChexpertLabel[];
}

export function tableConsistency(
  reportLabels: LabelVector,
  table: FindingsTable,
  policy: UncertainPolicy,
): TableConsistency {
  const contradicted: ChexpertLabel[] = [];
  const unreported: ChexpertLabel[] = [];
  CHEXPERT_LABELS.forEach((label, i) => {
    if (label === "No Finding") return;
    const row = table.rows[i];
    if (row.observation !== label) {
      throw new Error(
        `findings table: row ${i} is ${row.observation}, expected ${label} (CHEXPERT_LABELS order)`,
      );
    }
    const asserted = isPositive(reportLabels[i], policy);
    if (row.state === "present" && !asserted) {
      if (reportLabels[i] === 0) contradicted.push(label);
      else unreported.push(label);
    } else if (row.state === "absent" && asserted) {
      contradicted.push(label);
    }
  });
  return { consistent: contradicted.length === 0 && unreported.length === 0, contradicted, unreported };
}

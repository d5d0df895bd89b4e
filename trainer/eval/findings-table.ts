// The structured findings table as a record: the 14 CheXpert observations, each present / absent /
// uncertain / not mentioned, with laterality and severity where a present finding's report states
// them. Evaluation reads it (predictions.jsonl); trainer/findings builds and renders it.

import { CHEXPERT_LABELS, NUM_LABELS, type ChexpertLabel } from "../../common/chexpert.js";
import type { Laterality } from "./chexpert-labeler.js";

export const TABLE_STATES = ["present", "absent", "uncertain", "not_mentioned"] as const;
export type TableState = (typeof TABLE_STATES)[number];
export const SEVERITIES = ["mild", "moderate", "severe"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface TableRow {
  observation: ChexpertLabel;
  state: TableState;
  laterality?: Laterality;
  severity?: Severity;
  /** the classifier's probability, when the table came from the head */
  probability?: number;
}

export interface FindingsTable {
  schema: "radfleet.findings/v1";
  /** where the states came from */
  source: "labels" | "head";
  /** one row per observation, in CHEXPERT_LABELS order */
  rows: TableRow[];
}

/** Observations a table calls present (or, with uncertainAsPresent, present or uncertain). */
export function presentIn(t: FindingsTable, uncertainAsPresent = false): Set<ChexpertLabel> {
  return new Set(
    t.rows
      .filter((r) => r.state === "present" || (uncertainAsPresent && r.state === "uncertain"))
      .map((r) => r.observation),
  );
}

/** A table read from JSON (predictions.jsonl), checked row by row; a string names what is wrong. */
export function parseFindingsTable(v: unknown): FindingsTable | string {
  const rows = (v as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows) || rows.length !== NUM_LABELS) {
    return `findingsTable.rows: expected ${NUM_LABELS} rows in CHEXPERT_LABELS order`;
  }
  const out: TableRow[] = [];
  for (let i = 0; i < NUM_LABELS; i++) {
    const r = rows[i] as Partial<TableRow> | null;
    if (r?.observation !== CHEXPERT_LABELS[i]) {
      return `findingsTable.rows[${i}].observation: expected "${CHEXPERT_LABELS[i]}", got ${JSON.stringify(r?.observation)}`;
    }
    if (!TABLE_STATES.includes(r.state as TableState)) {
      return `findingsTable.rows[${i}].state: expected one of ${TABLE_STATES.join(", ")}, got ${JSON.stringify(r.state)}`;
    }
    out.push(r as TableRow);
  }
  const source = (v as { source?: unknown }).source === "labels" ? "labels" : "head";
  return { schema: "radfleet.findings/v1", source, rows: out };
}

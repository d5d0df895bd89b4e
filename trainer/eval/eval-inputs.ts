// Reading what `radfleet eval` and `radfleet label` take: JSONL of generated and reference reports,
// CSV of reports. Each input is validated here, once; a bad record is skipped and counted.

import { parseFindingsTable } from "./findings-table.js";
import { readFile } from "node:fs/promises";
import { CHEXPERT_LABELS, NUM_LABELS, type LabelValue, type LabelVector } from "../../common/chexpert.js";
import type { EvalRecord } from "./evaluate.js";

export interface Skipped {
  file: string;
  line: number;
  reason: string;
}

function asLabelValue(v: unknown): LabelValue | undefined {
  if (v === null || v === "" || v === undefined) return null;
  const n = typeof v === "string" ? Number(v) : v;
  if (n === 1 || n === 0 || n === -1) return n;
  return undefined;
}

/** Labels as an array of 14 (CHEXPERT_LABELS order) or an object keyed by observation name. */
function asLabelVector(v: unknown): LabelVector | string {
  if (Array.isArray(v)) {
    if (v.length !== NUM_LABELS) return `labels has ${v.length} values, expected ${NUM_LABELS}`;
    const out = v.map(asLabelValue);
    return out.every((x) => x !== undefined)
      ? (out as LabelVector)
      : "labels: values must be 1, 0, -1 or null";
  }
  if (v !== null && typeof v === "object") {
    const rec = v as Record<string, unknown>;
    const out = CHEXPERT_LABELS.map((l) => asLabelValue(rec[l]));
    return out.every((x) => x !== undefined)
      ? (out as LabelVector)
      : "labels: values must be 1, 0, -1 or null";
  }
  return "labels: expected an array of 14 values or an object keyed by CheXpert observation";
}

function pickText(o: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const k of keys) if (typeof o[k] === "string") return o[k] as string;
  return undefined;
}

interface JsonlRow {
  line: number;
  obj: Record<string, unknown>;
}

async function readJsonl(file: string, skipped: Skipped[]): Promise<JsonlRow[]> {
  const text = await readFile(file, "utf8");
  const rows: JsonlRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    try {
      const obj: unknown = JSON.parse(raw);
      if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new Error("not a JSON object");
      rows.push({ line: i + 1, obj: obj as Record<string, unknown> });
    } catch (e) {
      skipped.push({ file, line: i + 1, reason: `not valid JSON: ${(e as Error).message}` });
    }
  });
  return rows;
}

const ID_KEYS = ["id", "study_id", "studyId"];
const idOf = (o: Record<string, unknown>): string | undefined => {
  for (const k of ID_KEYS) if (typeof o[k] === "string" || typeof o[k] === "number") return String(o[k]);
  return undefined;
};

/**
 * Join predictions and references by id. Predictions: {id, generated|report|text, headProbs?,
 * findingsTable?};
 * references: {id, reference|report|text, labels?, headTargets?}.
 */
export async function readEvalInputs(
  predFile: string,
  refFile: string,
): Promise<{ records: EvalRecord[]; skipped: Skipped[] }> {
  const skipped: Skipped[] = [];
  const refs = new Map<string, { text: string; labels?: LabelVector; headTargets?: LabelVector }>();
  for (const { line, obj } of await readJsonl(refFile, skipped)) {
    const id = idOf(obj);
    const text = pickText(obj, ["reference", "report", "text"]);
    if (id === undefined || text === undefined) {
      skipped.push({ file: refFile, line, reason: 'needs "id" and "reference" (or "report"/"text")' });
      continue;
    }
    const entry: { text: string; labels?: LabelVector; headTargets?: LabelVector } = { text };
    if (obj.labels !== undefined) {
      const l = asLabelVector(obj.labels);
      if (typeof l === "string") {
        skipped.push({ file: refFile, line, reason: l });
        continue;
      }
      entry.labels = l;
    }
    if (refs.has(id))
      skipped.push({ file: refFile, line, reason: `duplicate id ${id}; the later one is used` });
    refs.set(id, entry);
  }
  const records: EvalRecord[] = [];
  for (const { line, obj } of await readJsonl(predFile, skipped)) {
    const id = idOf(obj);
    const text = pickText(obj, ["generated", "report", "text", "prediction"]);
    if (id === undefined || text === undefined) {
      skipped.push({ file: predFile, line, reason: 'needs "id" and "generated" (or "report"/"text")' });
      continue;
    }
    const ref = refs.get(id);
    if (!ref) {
      skipped.push({ file: predFile, line, reason: `no reference with id ${id}` });
      continue;
    }
    const rec: EvalRecord = { id, generated: text, reference: ref.text };
    if (ref.labels) rec.referenceLabels = ref.labels;
    const probs = obj.headProbs ?? obj.probs;
    if (probs !== undefined) {
      if (
        !Array.isArray(probs) ||
        probs.length !== NUM_LABELS ||
        !probs.every((p) => typeof p === "number" && p >= 0 && p <= 1)
      ) {
        skipped.push({ file: predFile, line, reason: `headProbs: expected ${NUM_LABELS} numbers in [0, 1]` });
        continue;
      }
      rec.headProbs = probs as number[];
    }
    if (obj.findingsTable !== undefined) {
      const table = parseFindingsTable(obj.findingsTable);
      if (typeof table === "string") {
        skipped.push({ file: predFile, line, reason: table });
        continue;
      }
      rec.findingsTable = table;
    }
    records.push(rec);
  }
  return { records, skipped };
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0].trim() === ""));
}

export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface ReportRow {
  id?: string;
  report: string;
}

const REPORT_HEADERS = ["report", "reports", "text", "findings", "generated", "reference"];

/**
 * Reports from a .jsonl ({id?, report|text}) or a .csv. A CSV whose first row names a report column
 * (report, Reports, text…) has a header; otherwise, as the CheXpert labeler's input, the first column
 * of every row is a report.
 */
export async function readReportsFile(file: string): Promise<{ rows: ReportRow[]; skipped: Skipped[] }> {
  const skipped: Skipped[] = [];
  if (/\.jsonl?$/i.test(file)) {
    const rows: ReportRow[] = [];
    for (const { line, obj } of await readJsonl(file, skipped)) {
      const report = pickText(obj, ["report", "text", "reference", "generated"]);
      if (report === undefined) {
        skipped.push({ file, line, reason: 'needs "report" (or "text")' });
        continue;
      }
      const id = idOf(obj);
      rows.push(id === undefined ? { report } : { id, report });
    }
    return { rows, skipped };
  }
  if (!/\.csv$/i.test(file)) throw new Error(`${file}: expected a .csv or .jsonl file of reports`);
  const table = parseCsv(await readFile(file, "utf8"));
  if (table.length === 0) return { rows: [], skipped };
  const header = table[0].map((h) => h.trim().toLowerCase());
  const reportCol = header.findIndex((h) => REPORT_HEADERS.includes(h));
  if (reportCol < 0) return { rows: table.map((r) => ({ report: r[0] })), skipped };
  const idCol = header.findIndex((h) => ID_KEYS.map((k) => k.toLowerCase()).includes(h));
  const rows: ReportRow[] = [];
  table.slice(1).forEach((r, i) => {
    if (r.length <= reportCol) {
      skipped.push({
        file,
        line: i + 2,
        reason: `row has ${r.length} cells; the report column is ${reportCol + 1}`,
      });
      return;
    }
    rows.push(idCol >= 0 ? { id: r[idCol], report: r[reportCol] } : { report: r[reportCol] });
  });
  return { rows, skipped };
}

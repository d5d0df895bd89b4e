// A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF) for the MIMIC-CXR-JPG tables,
// which may be plain or gzipped. Rows whose field count differs from the header are reported, not thrown.
import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

export interface CsvTable {
  header: string[];
  rows: string[][];
  /** The 1-based line number of each row (rows skip blank and malformed lines, so it is not index + 2). */
  rowLines: number[];
  /** 1-based line numbers of rows whose field count did not match the header. */
  malformedLines: number[];
}

export function parseCsv(text: string): CsvTable {
  // The MIMIC tables have no quoted fields; splitting is several times faster than the state machine.
  const records = text.includes('"') ? parseQuoted(text) : text.split(/\r?\n/).map((line) => line.split(","));
  if (records.length > 0 && records[records.length - 1].length === 1 && records[records.length - 1][0] === "")
    records.pop();
  const header = (records.shift() ?? []).map((h) => h.trim());
  const rows: string[][] = [];
  const malformedLines: number[] = [];
  const rowLines: number[] = [];
  records.forEach((r, i) => {
    if (r.length === 1 && r[0].trim() === "") return; // blank line
    if (r.length !== header.length) malformedLines.push(i + 2);
    else {
      rows.push(r);
      rowLines.push(i + 2);
    }
  });
  return { header, rows, rowLines, malformedLines };
}

function parseQuoted(text: string): string[][] {
  const records: string[][] = [];
  let field = "";
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      records.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    records.push(row);
  }
  return records;
}

/** Path of `<base>.csv` or `<base>.csv.gz` in `dir`, whichever exists (plain first); null if neither. */
export function findCsv(dir: string, base: string): string | null {
  for (const p of [`${dir}/${base}.csv`, `${dir}/${base}.csv.gz`]) if (existsSync(p)) return p;
  return null;
}

export function readCsv(path: string): CsvTable {
  const raw = readFileSync(path);
  const text = path.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  return parseCsv(text);
}

/** Quotes a field only where CSV needs it. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

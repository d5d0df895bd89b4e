// A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF) for the MIMIC-CXR-JPG tables,
// which may be plain or gzipped. Rows whose field count differs from the header are reported, not thrown.
import { existsSync, readFileSync, statSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/**
 * The most text one table may hold, plain or once decompressed. The largest MIMIC-CXR-JPG table
 * (metadata, ~377k rows) is about 60 MB; a gzip bomb or a device file must fail here, naming the
 * file, not take the process's memory. (V8 cannot make a string much past 512 MiB anyway.)
 */
export const MAX_CSV_BYTES = 256 << 20;

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

export function readCsv(path: string, maxBytes = MAX_CSV_BYTES): CsvTable {
  const st = statSync(path);
  if (!st.isFile()) throw new Error(`${path}: not a regular file`);
  if (st.size > maxBytes)
    throw new Error(`${path}: ${st.size} bytes, more than the ${maxBytes} a table may hold`);
  const raw = readFileSync(path);
  if (!path.endsWith(".gz")) return parseCsv(raw.toString("utf8"));
  let text: Buffer;
  try {
    // Stops inflating at the cap instead of finding out after the whole output was made.
    text = gunzipSync(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      throw new Error(
        `${path}: decompresses to more than the ${maxBytes} bytes a table may hold; refusing it`,
      );
    }
    throw new Error(`${path}: not a valid gzip file (${(err as Error).message})`);
  }
  return parseCsv(text.toString("utf8"));
}

/** Quotes a field only where CSV needs it. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

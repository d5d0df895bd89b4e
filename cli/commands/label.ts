// `radfleet label --in reports.(csv|jsonl) --out labels.csv`: the CheXpert-style labeler over a file
// of reports, written in the CheXpert labeler's output layout (Reports, then the 14 observations,
// values 1, 0, -1 or blank).

import { mkdir, open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { parseCommandLine, usageError } from "../../common/cli.js";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import { labelReport } from "../../trainer/eval/index.js";
import { csvField, readReportsFile } from "../../trainer/eval/index.js";

const USAGE = `usage: radfleet label --in reports.(csv|jsonl) --out labels.csv [--plain-no-finding]
  CSV input: a column named report/Reports/text (an "id" column is kept), or no header and reports in
  the first column. JSONL input: {"id"?, "report"}.
  --plain-no-finding: No Finding by the CheXpert rule alone (findings outside the 14 do not block it)`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      in: { type: "string" },
      out: { type: "string" },
      "plain-no-finding": { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  if (!values.in || !values.out) return usageError("--in and --out are required", USAGE);
  let read;
  try {
    read = await readReportsFile(values.in);
  } catch (e) {
    console.error(`cannot read reports: ${(e as Error).message}`);
    return 1;
  }
  for (const s of read.skipped) console.error(`skipped ${s.file}:${s.line}: ${s.reason}`);
  const withId = read.rows.some((r) => r.id !== undefined);
  const lines = [[...(withId ? ["id"] : []), "Reports", ...CHEXPERT_LABELS].map(csvField).join(",")];
  const opts = { otherFindingsBlockNoFinding: !values["plain-no-finding"] };
  const counts = new Array<number>(CHEXPERT_LABELS.length).fill(0);
  for (const row of read.rows) {
    const labels = labelReport(row.report, opts);
    labels.forEach((v, i) => {
      if (v === 1) counts[i]++;
    });
    const cells = labels.map((v) => (v === null ? "" : String(v)));
    lines.push([...(withId ? [row.id ?? ""] : []), row.report, ...cells].map(csvField).join(","));
  }
  await mkdir(dirname(values.out), { recursive: true });
  const tmp = `${values.out}.tmp-${process.pid}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(lines.join("\n") + "\n", "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, values.out);
  console.log(`labelled ${read.rows.length} reports (${read.skipped.length} skipped) -> ${values.out}`);
  console.log(CHEXPERT_LABELS.map((l, i) => `${l}: ${counts[i]}`).join(", "));
  return 0;
}

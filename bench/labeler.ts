// `radfleet bench labeler [--data DIR] [--uncertain positive|negative|both] [--json]`: the labeler on
// the 296 IU X-ray validation reports against their human gold labels (mapped to CheXpert as the
// data README says), per observation and pooled. Prints figures; asserts nothing.

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { choiceFlag, parseCommandLine, usageError } from "../common/cli.js";
import { benchmarkLabeler, type LabelerBenchmark } from "../trainer/eval/index.js";
import type { UncertainPolicy } from "../trainer/eval/index.js";

const DEFAULT_DATA = resolve(fileURLToPath(new URL(".", import.meta.url)), "../tests/fixtures/iu-xray");

const USAGE = `usage: radfleet bench labeler [--data DIR] [--uncertain positive|negative|both] [--plain-no-finding] [--json]
  DIR holds reports-valid.json and labels-valid.csv (default ${DEFAULT_DATA}, or $RADFLEET_IU_XRAY_DIR)`;

function table(b: LabelerBenchmark): string {
  const f = (x: number): string => x.toFixed(3);
  const rows = [
    `uncertain as ${b.uncertainPolicy}, ${b.studies} studies`,
    `${"observation".padEnd(18)} ${"P".padStart(6)} ${"R".padStart(6)} ${"F1".padStart(6)}   tp  fp  fn  support`,
  ];
  for (const r of [...b.perLabel, ...b.optional.map((o) => ({ ...o, label: `${o.label}*` }))]) {
    rows.push(
      `${r.label.padEnd(18)} ${f(r.precision).padStart(6)} ${f(r.recall).padStart(6)} ${f(r.f1).padStart(6)} ${String(r.tp).padStart(4)}${String(r.fp).padStart(4)}${String(r.fn).padStart(4)}  ${r.support}`,
    );
  }
  rows.push(
    `${"micro".padEnd(18)} ${f(b.micro.precision).padStart(6)} ${f(b.micro.recall).padStart(6)} ${f(b.micro.f1).padStart(6)}`,
  );
  rows.push(
    `${"macro".padEnd(18)} ${f(b.macro.precision).padStart(6)} ${f(b.macro.recall).padStart(6)} ${f(b.macro.f1).padStart(6)}`,
  );
  rows.push("* Infiltration → Lung Opacity, not in micro/macro");
  return rows.join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      data: { type: "string" },
      uncertain: { type: "string" },
      "plain-no-finding": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let which: "positive" | "negative" | "both";
  try {
    which = choiceFlag("uncertain", values.uncertain, ["positive", "negative", "both"] as const, "both");
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const policies: UncertainPolicy[] = which === "both" ? ["positive", "negative"] : [which];
  const dir = values.data ?? process.env.RADFLEET_IU_XRAY_DIR ?? DEFAULT_DATA;
  const results: LabelerBenchmark[] = [];
  try {
    for (const p of policies)
      results.push(
        await benchmarkLabeler(dir, p, { otherFindingsBlockNoFinding: !values["plain-no-finding"] }),
      );
  } catch (e) {
    console.error(`labeler benchmark failed on ${dir}: ${(e as Error).message}`);
    return 1;
  }
  if (values.json) {
    console.log(JSON.stringify(results.map(({ disagreements: _d, ...rest }) => rest)));
  } else {
    console.log(results.map(table).join("\n\n"));
  }
  return 0;
}

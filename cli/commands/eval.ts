// `radfleet eval --pred preds.jsonl --ref refs.jsonl [--out DIR] [--uncertain positive|negative]`:
// every report metric, the clinical metrics and the fact audit of generated reports against
// references; writes report.json, report.md and plots when --out is given.

import { choiceFlag, intFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { evaluate, headline } from "../../trainer/eval/index.js";
import { readEvalInputs } from "../../trainer/eval/index.js";
import { writeEvalReport } from "../../trainer/eval/index.js";
import type { UncertainPolicy } from "../../trainer/eval/index.js";

const USAGE = `usage: radfleet eval --pred preds.jsonl --ref refs.jsonl [--out DIR] [--uncertain positive|negative]
                     [--bootstrap 1000] [--seed 0] [--worst 10] [--json]
  preds.jsonl: {"id", "generated" (or "report"), "headProbs"?: 14 sigmoid outputs}
  refs.jsonl:  {"id", "reference" (or "report"), "labels"?: 14 values (1, 0, -1, null) or {observation: value}}
  Records are joined by id. --uncertain: how uncertain (-1) labels count (default positive).`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      pred: { type: "string" },
      ref: { type: "string" },
      out: { type: "string" },
      uncertain: { type: "string" },
      bootstrap: { type: "string" },
      seed: { type: "string" },
      worst: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  if (!values.pred || !values.ref) return usageError("--pred and --ref are required", USAGE);
  let uncertain: UncertainPolicy, bootstrap: number, seed: number, worst: number;
  try {
    uncertain = choiceFlag("uncertain", values.uncertain, ["positive", "negative"] as const, "positive");
    bootstrap = intFlag("bootstrap", values.bootstrap, 1000, 0);
    seed = intFlag("seed", values.seed, 0, 0);
    worst = intFlag("worst", values.worst, 10, 0);
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }

  const { records, skipped } = await readEvalInputs(values.pred, values.ref);
  for (const s of skipped.slice(0, 20)) console.error(`skipped ${s.file}:${s.line}: ${s.reason}`);
  if (skipped.length > 20) console.error(`… and ${skipped.length - 20} more skipped records`);
  if (records.length === 0) {
    console.error(`no records to evaluate: nothing in ${values.pred} matched an id in ${values.ref}`);
    return 1;
  }
  let report;
  try {
    report = evaluate(records, { uncertain, bootstrap, seed, worstExamples: worst });
  } catch (e) {
    console.error(`radfleet eval: ${(e as Error).message}`);
    return 1;
  }
  if (values.out) await writeEvalReport(values.out, report);
  const flat = headline(report);
  if (values.json) {
    console.log(JSON.stringify({ headline: flat, skipped: skipped.length, out: values.out ?? null }));
  } else {
    console.log(
      `evaluated ${report.count} reports (${skipped.length} records skipped); uncertain labels as ${uncertain}`,
    );
    for (const [k, v] of Object.entries(flat))
      console.log(`${k.padEnd(32)} ${Number.isInteger(v) ? v : v.toFixed(4)}`);
    if (values.out) console.log(`wrote ${values.out}/report.json, report.md and plots`);
  }
  return 0;
}

// `radfleet eval --pred preds.jsonl --ref refs.jsonl [--out DIR] [--uncertain positive|negative]`:
// every report metric, the clinical metrics and the fact audit of generated reports against
// references; writes report.json, report.md and plots when --out is given.

import { parseArgs } from "node:util";
import { evaluate, headline } from "./evaluate.js";
import { readEvalInputs } from "./eval-inputs.js";
import { writeEvalReport } from "./report-writer.js";
import type { UncertainPolicy } from "./clinical-metrics.js";

const USAGE = `usage: radfleet eval --pred preds.jsonl --ref refs.jsonl [--out DIR] [--uncertain positive|negative]
                     [--bootstrap 1000] [--seed 0] [--worst 10] [--json]
  preds.jsonl: {"id", "generated" (or "report"), "headProbs"?: 14 sigmoid outputs}
  refs.jsonl:  {"id", "reference" (or "report"), "labels"?: 14 values (1, 0, -1, null) or {observation: value}}
  Records are joined by id. --uncertain: how uncertain (-1) labels count (default positive).`;

function intFlag(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected an integer >= 0, got "${v}"`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        pred: { type: "string" },
        ref: { type: "string" },
        out: { type: "string" },
        uncertain: { type: "string" },
        bootstrap: { type: "string" },
        seed: { type: "string" },
        worst: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.pred || !values.ref) {
    console.error(`--pred and --ref are required\n${USAGE}`);
    return 2;
  }
  const uncertain = (values.uncertain ?? "positive") as UncertainPolicy;
  if (uncertain !== "positive" && uncertain !== "negative") {
    console.error(`--uncertain: expected positive or negative, got "${values.uncertain}"\n${USAGE}`);
    return 2;
  }
  let bootstrap: number, seed: number, worst: number;
  try {
    bootstrap = intFlag(values.bootstrap, "bootstrap", 1000);
    seed = intFlag(values.seed, "seed", 0);
    worst = intFlag(values.worst, "worst", 10);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }

  const { records, skipped } = await readEvalInputs(values.pred, values.ref);
  for (const s of skipped.slice(0, 20)) console.error(`skipped ${s.file}:${s.line}: ${s.reason}`);
  if (skipped.length > 20) console.error(`… and ${skipped.length - 20} more skipped records`);
  if (records.length === 0) {
    console.error(`no records to evaluate: nothing in ${values.pred} matched an id in ${values.ref}`);
    return 1;
  }
  const report = evaluate(records, { uncertain, bootstrap, seed, worstExamples: worst });
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

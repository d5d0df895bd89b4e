// `radfleet bench labeler [--data DIR] [--uncertain positive|negative|both] [--plain-no-finding]
// [--possible-as-unmentioned] [--errors development|set-aside|all] [--json]`: the labeler on the 296 IU X-ray validation reports
// against their human gold labels (mapped to CheXpert as the data README says), per observation and
// pooled, on all studies and on each part of the labeler split, with bootstrap 95% intervals, an
// error listing, and the labeling speed in words/s against a tokenizing baseline timed in the same
// run. Prints figures; asserts nothing.

import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { choiceFlag, parseCommandLine, usageError } from "../common/cli.js";
import {
  benchmarkLabeler,
  labelReport,
  loadIuValidation,
  type LabelerBenchmark,
  type LabelerOptions,
  type LabelerPartScores,
  type LabelScores,
  type UncertainPolicy,
} from "../trainer/eval/index.js";

const DEFAULT_DATA = resolve(fileURLToPath(new URL(".", import.meta.url)), "../tests/fixtures/iu-xray");

const USAGE = `usage: radfleet bench labeler [--data DIR] [--uncertain positive|negative|both] [--plain-no-finding]
                              [--possible-as-unmentioned] [--errors development|set-aside|all] [--json]
  DIR holds reports-valid.json and labels-valid.csv (default ${DEFAULT_DATA}, or $RADFLEET_IU_XRAY_DIR)
  --possible-as-unmentioned: a possible-grade hedge ("may represent X") does not count for X, as the
    IU X-ray annotators coded them (default: uncertain, the CheXpert convention)
  --errors PART: list each wrong label of that part (id, label, gold, predicted, value, deciding cue)`;

const f = (x: number): string => x.toFixed(3);
const ci = (c: [number, number]): string => `[${f(c[0])}, ${f(c[1])}]`;

function table(name: string, p: LabelerPartScores): string {
  const rows = [
    `${name}: ${p.studies} studies`,
    `${"observation".padEnd(18)} ${"P".padStart(6)} ${"R".padStart(6)} ${"F1".padStart(6)}  F1 95% CI          tp  fp  fn  support`,
  ];
  const line = (r: LabelScores, label: string): string =>
    `${label.padEnd(18)} ${f(r.precision).padStart(6)} ${f(r.recall).padStart(6)} ${f(r.f1).padStart(6)}  ${ci(r.f1Ci95).padEnd(16)} ${String(r.tp).padStart(4)}${String(r.fp).padStart(4)}${String(r.fn).padStart(4)}  ${r.support}`;
  for (const r of p.perLabel) rows.push(line(r, r.label));
  for (const r of p.optional) rows.push(line(r, `${r.label}*`));
  for (const [label, s] of [
    ["micro", p.micro],
    ["macro", p.macro],
  ] as const) {
    rows.push(
      `${label.padEnd(18)} ${f(s.precision).padStart(6)} ${f(s.recall).padStart(6)} ${f(s.f1).padStart(6)}  ${ci(s.f1Ci95)}`,
    );
  }
  return rows.join("\n");
}

function report(b: LabelerBenchmark): string {
  const parts = [
    table("all", b),
    table("development", b.parts.development),
    table("set-aside", b.parts["set-aside"]),
  ];
  return [
    `uncertain as ${b.uncertainPolicy}`,
    ...parts,
    "* Infiltration → Lung Opacity, not in micro/macro",
  ].join("\n\n");
}

interface Speed {
  words: number;
  labelerWordsPerSecond: number;
  baselineWordsPerSecond: number;
}

/** Words/s of the labeler, and of lowercasing plus word tokenization as a baseline timed in the same run. */
function measureSpeed(reports: readonly string[], opts: LabelerOptions): Speed {
  const words = reports.reduce((a, r) => a + (r.match(/\S+/g)?.length ?? 0), 0);
  const rate = (once: () => void): number => {
    once(); // warm-up: compile the patterns, let the JIT settle
    let passes = 0;
    const t0 = performance.now();
    let elapsed = 0;
    while (elapsed < 1500 || passes < 3) {
      once();
      passes++;
      elapsed = performance.now() - t0;
    }
    return (words * passes) / (elapsed / 1000);
  };
  let sink = 0;
  const baseline = rate(() => {
    for (const r of reports) sink += r.toLowerCase().match(/[a-z]+/g)?.length ?? 0;
  });
  const labeler = rate(() => {
    for (const r of reports) sink += labelReport(r, opts)[0] ?? 0;
  });
  if (sink === -1) console.log(""); // keeps the work observable
  return { words, labelerWordsPerSecond: labeler, baselineWordsPerSecond: baseline };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      data: { type: "string" },
      uncertain: { type: "string" },
      "plain-no-finding": { type: "boolean", default: false },
      "possible-as-unmentioned": { type: "boolean", default: false },
      errors: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let which: "positive" | "negative" | "both";
  let errorsPart: "development" | "set-aside" | "all" | undefined;
  try {
    which = choiceFlag("uncertain", values.uncertain, ["positive", "negative", "both"] as const, "both");
    errorsPart =
      values.errors === undefined
        ? undefined
        : choiceFlag("errors", values.errors, ["development", "set-aside", "all"] as const, "development");
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const policies: UncertainPolicy[] = which === "both" ? ["positive", "negative"] : [which];
  const dir = values.data ?? process.env.RADFLEET_IU_XRAY_DIR ?? DEFAULT_DATA;
  const opts: LabelerOptions = {
    otherFindingsBlockNoFinding: !values["plain-no-finding"],
    possibleHedge: values["possible-as-unmentioned"] ? "unmentioned" : "uncertain",
  };
  const results: LabelerBenchmark[] = [];
  let speed: Speed;
  try {
    for (const p of policies) results.push(await benchmarkLabeler(dir, p, opts));
    speed = measureSpeed(
      (await loadIuValidation(dir)).map((s) => s.report),
      opts,
    );
  } catch (e) {
    console.error(`labeler benchmark failed on ${dir}: ${(e as Error).message}`);
    return 1;
  }
  const listed = (errors: LabelerBenchmark["errors"]) =>
    errorsPart === undefined ? [] : errors.filter((e) => errorsPart === "all" || e.part === errorsPart);
  if (values.json) {
    console.log(
      JSON.stringify({
        results: results.map(({ errors, ...rest }) => ({
          ...rest,
          ...(errorsPart ? { errors: listed(errors) } : {}),
        })),
        speed,
      }),
    );
    return 0;
  }
  console.log(results.map(report).join("\n\n"));
  console.log(
    `\nspeed: ${Math.round(speed.labelerWordsPerSecond)} words/s over ${speed.words} words ` +
      `(baseline, lowercase + tokenize: ${Math.round(speed.baselineWordsPerSecond)} words/s; ` +
      `labeler at ${(speed.labelerWordsPerSecond / speed.baselineWordsPerSecond).toFixed(4)} of it)`,
  );
  for (const b of results) {
    const list = listed(b.errors);
    if (errorsPart === undefined) continue;
    console.log(`\nerrors, ${errorsPart}, uncertain as ${b.uncertainPolicy}: ${list.length}`);
    console.log(["id", "part", "label", "gold", "predicted", "value", "cue"].join("\t"));
    for (const e of list) {
      console.log(
        [e.id, e.part, e.label, e.gold ? 1 : 0, e.predicted ? 1 : 0, e.value ?? "", e.cue].join("\t"),
      );
    }
  }
  return 0;
}

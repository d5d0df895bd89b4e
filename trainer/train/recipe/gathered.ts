// What ranks send each other through allGatherJson, checked on arrival. Every rank runs the same
// build, but a peer's bytes are still input from the network: an item of the wrong shape fails
// the gather (PROTOCOL, naming the rank) instead of reaching the scores or the checkpoint logic.
// Each check returns its input unchanged when it fits, so what is written (predictions.jsonl) is
// exactly what the rank sent.
import { NUM_LABELS } from "../../../common/chexpert.js";
import { parseFindingsTable, type EvalRecord } from "../../eval/index.js";

/** One generated report as evaluation gathers it. */
export type Prediction = EvalRecord & { prompt?: string };

const show = (v: unknown): string =>
  v === undefined ? "nothing" : (JSON.stringify(v) ?? String(v)).slice(0, 80);

function fail(what: string, want: string, got: unknown): never {
  throw new Error(`${what}: expected ${want}, got ${show(got)}`);
}

/** A step number (restoreAgreed). */
export function checkStep(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) fail("restored step", "an integer >= 0", v);
  return v;
}

function checkProbs(what: string, v: unknown): void {
  if (!Array.isArray(v) || v.length !== NUM_LABELS) fail(what, `${NUM_LABELS} probabilities`, v);
  for (const p of v as unknown[]) {
    // A NaN or Infinity arrives as null: JSON has no such number.
    if (typeof p !== "number" || p < 0 || p > 1) fail(what, "numbers in [0, 1]", p);
  }
}

function checkLabels(what: string, v: unknown): void {
  if (!Array.isArray(v) || v.length !== NUM_LABELS) fail(what, `${NUM_LABELS} labels`, v);
  for (const x of v as unknown[])
    if (x !== 1 && x !== 0 && x !== -1 && x !== null) fail(what, "1, 0, -1 or null", x);
}

/** The head's probabilities of a rank's share of examples, by id (threshold tuning). */
export function checkHeadProbRows(v: unknown): Array<[string, number[]]> {
  if (!Array.isArray(v)) fail("head probabilities", "an array of [id, probabilities]", v);
  (v as unknown[]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== 2 || typeof row[0] !== "string")
      fail(`head probabilities[${i}]`, "[id, probabilities]", row);
    checkProbs(`head probabilities of ${row[0] as string}`, row[1]);
  });
  return v as Array<[string, number[]]>;
}

/** A rank's generated reports (evaluation). */
export function checkPredictions(v: unknown): Prediction[] {
  if (!Array.isArray(v)) fail("predictions", "an array of records", v);
  (v as unknown[]).forEach((r, i) => {
    if (typeof r !== "object" || r === null || Array.isArray(r)) fail(`predictions[${i}]`, "a record", r);
    const o = r as Record<string, unknown>;
    for (const k of ["id", "generated", "reference"] as const)
      if (typeof o[k] !== "string") fail(`predictions[${i}].${k}`, "a string", o[k]);
    const at = `prediction ${o.id as string}`;
    if (o.prompt !== undefined && typeof o.prompt !== "string") fail(`${at}.prompt`, "a string", o.prompt);
    if (o.referenceLabels !== undefined) checkLabels(`${at}.referenceLabels`, o.referenceLabels);
    if (o.headTargets !== undefined) checkLabels(`${at}.headTargets`, o.headTargets);
    if (o.headProbs !== undefined) checkProbs(`${at}.headProbs`, o.headProbs);
    if (o.findingsTable !== undefined) {
      const table = parseFindingsTable(o.findingsTable);
      if (typeof table === "string") throw new Error(`${at}: ${table}`);
    }
  });
  return v as Prediction[];
}

// Building and writing the structured findings table (its record format, FindingsTable, is
// evaluation's: trainer/eval/findings-table.ts). Two forms:
//   JSON (programs, predictions.jsonl): every observation, canonical state names;
//   text (prompts): compact, grouped by state, not-mentioned observations left out, e.g.
//     "present: cardiomegaly, pleural effusion left moderate; possible: edema; no: pneumothorax"
//   The text uses only words a radiology vocabulary already has ("present", "possible", "no") and
//   never puts two punctuation marks together (a word-level tokenizer would see one unknown token),
//   so the shipped tiny base's tokenizer reads it without unknown tokens.

import { CHEXPERT_LABELS, NUM_LABELS, type LabelVector } from "../../common/chexpert.js";
import {
  labelReportDetailed,
  SEVERITIES,
  type FindingsTable,
  type Laterality,
  type Mention,
  type Severity,
  type TableRow,
  type TableState,
} from "../eval/index.js";

/** The words of the text form for each state (not_mentioned is never written). */
const STATE_WORD: Record<Exclude<TableState, "not_mentioned">, string> = {
  present: "present",
  uncertain: "possible",
  absent: "no",
};

/** Severity words as reports write them, mapped to the table's three grades. */
const SEVERITY_WORDS: Record<string, Severity> = {
  trace: "mild",
  minimal: "mild",
  tiny: "mild",
  small: "mild",
  mild: "mild",
  mildly: "mild",
  moderate: "moderate",
  moderately: "moderate",
  large: "severe",
  severe: "severe",
  severely: "severe",
  extensive: "severe",
};

/**
 * The severity a report gives a mention: a grading word in the mention itself ("heart is mildly
 * enlarged") or among the three words before it within its clause ("small left pleural effusion").
 */
export function severityOf(report: string, mention: Pick<Mention, "start" | "end">): Severity | undefined {
  const words = (text: string) =>
    text
      .toLowerCase()
      .split(/[^a-z]+/)
      .filter(Boolean);
  for (const w of words(report.slice(mention.start, mention.end))) {
    if (SEVERITY_WORDS[w]) return SEVERITY_WORDS[w];
  }
  const before = report.slice(Math.max(0, mention.start - 60), mention.start).toLowerCase();
  const clause = before.split(/[.;,:]|\band\b|\bwith\b/).pop() ?? "";
  const near = words(clause).slice(-3);
  for (let i = near.length - 1; i >= 0; i--) {
    const s = SEVERITY_WORDS[near[i]];
    if (s) return s;
  }
  return undefined;
}

function stateOf(v: LabelVector[number]): TableState {
  return v === 1 ? "present" : v === 0 ? "absent" : v === -1 ? "uncertain" : "not_mentioned";
}

/**
 * The ground-truth table of an example: states from its labels; for present findings, laterality
 * and severity from the report's positive mentions when it states them (one side, one grade; a
 * finding described on both sides is bilateral).
 */
export function tableFromLabels(labels: LabelVector, report?: string): FindingsTable {
  if (labels.length !== NUM_LABELS) throw new Error(`findings table: ${labels.length} labels, expected 14`);
  const mentions = report ? labelReportDetailed(report).mentions : [];
  const rows = CHEXPERT_LABELS.map((observation, i): TableRow => {
    const row: TableRow = { observation, state: stateOf(labels[i]) };
    if (row.state !== "present" || !report) return row;
    const positive = mentions.filter((m) => m.label === observation && m.status === "positive");
    const sides = new Set(positive.map((m) => m.laterality).filter((s): s is Laterality => !!s));
    if (sides.has("bilateral") || (sides.has("left") && sides.has("right"))) row.laterality = "bilateral";
    else if (sides.size === 1) row.laterality = [...sides][0];
    const grades = positive.map((m) => severityOf(report, m)).filter((s): s is Severity => !!s);
    if (grades.length > 0) row.severity = grades.reduce((a, b) => (rank(b) > rank(a) ? b : a));
    return row;
  });
  return { schema: "radfleet.findings/v1", source: "labels", rows };
}

const rank = (s: Severity) => SEVERITIES.indexOf(s);

/**
 * The classifier's table: an observation is present when its probability reaches its threshold,
 * absent otherwise. The head is trained on present/absent targets, so it never says "uncertain" or
 * "not mentioned", and it does not grade side or severity.
 */
export function tableFromProbs(probs: readonly number[], thresholds: readonly number[]): FindingsTable {
  if (probs.length !== NUM_LABELS || thresholds.length !== NUM_LABELS) {
    throw new Error(
      `findings table: ${probs.length} probabilities and ${thresholds.length} thresholds, expected 14 each`,
    );
  }
  return {
    schema: "radfleet.findings/v1",
    source: "head",
    rows: CHEXPERT_LABELS.map((observation, i) => ({
      observation,
      state: probs[i] >= thresholds[i] ? "present" : "absent",
      probability: Number(probs[i].toFixed(4)),
    })),
  };
}

function rowText(r: TableRow): string {
  const qual = [r.laterality, r.severity].filter(Boolean);
  return [r.observation.toLowerCase(), ...qual].join(" ");
}

/** The compact text form (see the top of this file); "none" when nothing is mentioned. */
export function renderTableText(t: FindingsTable): string {
  const groups: string[] = [];
  for (const state of ["present", "uncertain", "absent"] as const) {
    const rows = t.rows.filter((r) => r.state === state);
    if (rows.length) groups.push(`${STATE_WORD[state]}: ${rows.map(rowText).join(", ")}`);
  }
  return groups.length ? groups.join("; ") : "none";
}

/** Every word the text form can contain, for word-level vocabularies built from a corpus. */
export function tableVocabulary(): string {
  return [
    ...Object.values(STATE_WORD),
    "none",
    "left",
    "right",
    "bilateral",
    ...SEVERITIES,
    ...CHEXPERT_LABELS.map((l) => l.toLowerCase()),
    ": ; ,",
  ].join(" ");
}

/**
 * Tables whose text form is longest, for a prompt's token budget: every observation present with
 * the longest side and grade, every one uncertain, every one absent.
 */
export function longestTables(): FindingsTable[] {
  const all = (state: TableState, extra: Partial<TableRow> = {}): FindingsTable => ({
    schema: "radfleet.findings/v1",
    source: "labels",
    rows: CHEXPERT_LABELS.map((observation) => ({ observation, state, ...extra })),
  });
  return [
    all("present", { laterality: "bilateral", severity: "moderate" }),
    all("present", { laterality: "right", severity: "severe" }),
    all("uncertain"),
    all("absent"),
  ];
}

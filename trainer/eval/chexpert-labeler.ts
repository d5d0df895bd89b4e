// Rule-based CheXpert-style labeler: mentions from the lexicon, a status per mention from
// negation/uncertainty cues within the mention's clause, then the CheXpert aggregation:
// positive if any mention is positive, else uncertain if any is uncertain, else negative if any is
// negated, else blank; No Finding positive only when no other observation except Support Devices
// is positive or uncertain.

import {
  CHEXPERT_LABELS,
  type ChexpertLabel,
  type LabelVector,
  type LabelValue,
} from "../../common/chexpert.js";
import { LEXICON, OTHER_FINDINGS, type MentionedLabel } from "./chexpert-lexicon.js";
import {
  ALTERNATIVE_NEAR_AFTER,
  ALTERNATIVE_NEAR_BEFORE,
  CLAUSE_BOUNDARY,
  NEGATION_AFTER,
  NEGATION_BEFORE,
  NEGATION_SCOPE_BREAK,
  NORMAL_AFTER,
  PRE_NEGATION_UNCERTAINTY_AFTER,
  PRE_NEGATION_UNCERTAINTY_BEFORE,
  PSEUDO_NEGATIONS,
  SENTENCE_BOUNDARY,
  UNCERTAINTY_AFTER,
  UNCERTAINTY_BEFORE,
  VERB_AFTER_NEGATION,
} from "./negation-cues.js";

export type MentionStatus = "positive" | "negative" | "uncertain";
export type Laterality = "left" | "right" | "bilateral";

export interface Mention {
  label: ChexpertLabel;
  /** the matched text, as written in the report */
  text: string;
  /** character offsets into the report, end exclusive */
  start: number;
  end: number;
  status: MentionStatus;
  /** the rule or cue that decided the status, for error listings ("negation before: no") */
  cue: string;
  laterality?: Laterality;
}

export interface LabelerOptions {
  /**
   * Let findings outside the 14 (granuloma, emphysema, degenerative spine…) block No Finding as well.
   * Default true: a report naming one is not a normal study. false gives the plain CheXpert rule.
   */
  otherFindingsBlockNoFinding?: boolean;
}

export interface DetailedLabels {
  labels: LabelVector;
  mentions: Mention[];
  /** mentions of findings outside the 14 (not labels; they only matter for No Finding) */
  otherFindings: Array<{ text: string; start: number; end: number; status: MentionStatus; cue: string }>;
  /** why No Finding is what it is: the finding that blocked it, or that nothing did */
  noFindingReason: string;
}

interface CompiledLexicon {
  label: MentionedLabel;
  mentions: RegExp;
  exclusions: RegExp | null;
  normalForms: RegExp | null;
  uncertainForms: RegExp | null;
}

function wordRegex(sources: readonly string[]): RegExp {
  return new RegExp(`\\b(?:${sources.join("|")})\\b`, "g");
}

const COMPILED: CompiledLexicon[] = (Object.keys(LEXICON) as MentionedLabel[]).map((label) => {
  const lx = LEXICON[label];
  return {
    label,
    mentions: wordRegex(lx.mentions),
    exclusions: lx.exclusions?.length ? wordRegex(lx.exclusions) : null,
    normalForms: lx.normalForms?.length ? wordRegex(lx.normalForms) : null,
    uncertainForms: lx.uncertainForms?.length ? wordRegex(lx.uncertainForms) : null,
  };
});
const OTHER = wordRegex(OTHER_FINDINGS);

interface Span {
  start: number;
  end: number;
}

function spans(re: RegExp | null, text: string): Span[] {
  if (re === null) return [];
  const out: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}

const overlaps = (a: Span, b: Span): boolean => a.start < b.end && b.start < a.end;

/** Lowercase without changing the length, so offsets in the lowered text are offsets in the report. */
function lowerKeepLength(text: string): string {
  let out = "";
  for (const ch of text) {
    const l = ch.toLowerCase();
    out += l.length === ch.length ? l : ch;
  }
  return out;
}

function boundaries(re: RegExp, text: string, from: number, to: number): number[] {
  const out: number[] = [];
  re.lastIndex = 0;
  const slice = text.slice(from, to);
  for (let m = re.exec(slice); m !== null; m = re.exec(slice)) {
    out.push(from + m.index, from + m.index + m[0].length);
    if (m[0].length === 0) re.lastIndex++;
  }
  return out;
}

/** Sentence and clause cuts of a text, sorted: computed once per report. */
function clauseCuts(text: string, lower: string): number[] {
  // Sentence ends are found in the original text: a period directly before a capital also ends one.
  const cuts = [
    ...boundaries(SENTENCE_BOUNDARY, text, 0, text.length),
    ...boundaries(CLAUSE_BOUNDARY, lower, 0, lower.length),
  ];
  return [...new Set(cuts)].sort((a, b) => a - b);
}

/** The clause around a span: from the last cut at or before it to the first cut at or after it. */
function clauseOf(lower: string, cuts: readonly number[], span: Span): Span {
  // Binary search for the first cut >= span.end; the one before it that is <= span.start opens the clause.
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cuts[mid] < span.end) lo = mid + 1;
    else hi = mid;
  }
  const end = lo < cuts.length ? cuts[lo] : lower.length;
  let k = lo - 1;
  while (k >= 0 && cuts[k] > span.start) k--;
  const start = k >= 0 ? cuts[k] : 0;
  return { start, end };
}

const MAX_CUE_REACH = 250;

function blankPseudoNegations(s: string): string {
  return s.replace(PSEUDO_NEGATIONS, (m) => " ".repeat(m.length));
}

interface Decision {
  status: MentionStatus;
  cue: string;
}

/** The text a cue pattern matched, for the decision's description. */
function cueText(re: RegExp, s: string): string {
  re.lastIndex = 0;
  const m = re.exec(s);
  re.lastIndex = 0;
  return m ? m[0].trim() : "";
}

/** Status of the mention at `span` from the cues in its clause, and the cue that decided it. */
function classify(lower: string, clause: Span, span: Span): Decision {
  // Cues reach at most this far, which also bounds the work on text without punctuation.
  const before = blankPseudoNegations(
    lower.slice(Math.max(clause.start, span.start - MAX_CUE_REACH), span.start),
  );
  const inside = blankPseudoNegations(lower.slice(span.start, span.end));
  const after = lower.slice(span.end, Math.min(clause.end, span.end + MAX_CUE_REACH));

  // Phase 1: double negatives that hedge.
  if (PRE_NEGATION_UNCERTAINTY_BEFORE.test(before))
    return {
      status: "uncertain",
      cue: `double negative before: ${cueText(PRE_NEGATION_UNCERTAINTY_BEFORE, before)}`,
    };
  if (PRE_NEGATION_UNCERTAINTY_AFTER.test(after))
    return {
      status: "uncertain",
      cue: `double negative after: ${cueText(PRE_NEGATION_UNCERTAINTY_AFTER, after)}`,
    };

  // Phase 2: negation. Inside a long mention ("heart is not enlarged") a cue always counts.
  NEGATION_BEFORE.lastIndex = 0;
  if (NEGATION_BEFORE.test(inside))
    return { status: "negative", cue: `negation inside: ${cueText(NEGATION_BEFORE, inside)}` };
  NEGATION_BEFORE.lastIndex = 0;
  let lastCueEnd = -1;
  let lastCue = "";
  for (let m = NEGATION_BEFORE.exec(before); m !== null; m = NEGATION_BEFORE.exec(before)) {
    lastCueEnd = m.index + m[0].length;
    lastCue = m[0];
  }
  if (
    lastCueEnd >= 0 &&
    !NEGATION_SCOPE_BREAK.test(before.slice(lastCueEnd).replace(VERB_AFTER_NEGATION, ""))
  ) {
    return { status: "negative", cue: `negation before: ${lastCue}` };
  }
  if (NEGATION_AFTER.test(after))
    return { status: "negative", cue: `negation after: ${cueText(NEGATION_AFTER, after)}` };
  if (NORMAL_AFTER.test(after))
    return { status: "negative", cue: `normal after: ${cueText(NORMAL_AFTER, after)}` };

  // Phase 3: hedges.
  if (UNCERTAINTY_BEFORE.test(before))
    return { status: "uncertain", cue: `hedge before: ${cueText(UNCERTAINTY_BEFORE, before)}` };
  if (UNCERTAINTY_BEFORE.test(inside))
    return { status: "uncertain", cue: `hedge inside: ${cueText(UNCERTAINTY_BEFORE, inside)}` };
  if (ALTERNATIVE_NEAR_BEFORE.test(before))
    return { status: "uncertain", cue: `alternative before: ${cueText(ALTERNATIVE_NEAR_BEFORE, before)}` };
  if (ALTERNATIVE_NEAR_AFTER.test(after))
    return { status: "uncertain", cue: `alternative after: ${cueText(ALTERNATIVE_NEAR_AFTER, after)}` };
  if (UNCERTAINTY_AFTER.test(after))
    return { status: "uncertain", cue: `hedge after: ${cueText(UNCERTAINTY_AFTER, after)}` };
  return { status: "positive", cue: "no cue in clause" };
}

const BILATERAL = /\b(?:bilateral(?:ly)?|bibasila?r|bibasal|biapical|both)\b/;

function sideIn(s: string): Laterality | undefined {
  if (BILATERAL.test(s)) return "bilateral";
  const left = /\bleft\b/.test(s);
  const right = /\bright\b/.test(s);
  if (left && right) return "bilateral";
  if (left) return "left";
  if (right) return "right";
  return undefined;
}

/**
 * The side of a mention: side words just before it ("left lower lobe atelectasis") or else just after it
 * ("atelectasis in the left base"), never reaching past a neighbouring mention, so in "right lower lobe
 * atelectasis and left pleural effusion" each finding keeps its own side.
 */
function lateralityOf(
  lower: string,
  clause: Span,
  span: Span,
  neighbours: readonly Span[],
): Laterality | undefined {
  let from = Math.max(clause.start, span.start - 50);
  let to = Math.min(clause.end, span.end + 40);
  for (const n of neighbours) {
    if (n.end <= span.start) from = Math.max(from, n.end);
    if (n.start >= span.end) to = Math.min(to, n.start);
  }
  return sideIn(lower.slice(from, span.end)) ?? sideIn(lower.slice(span.end, Math.max(span.end, to)));
}

/** Keep the longest of overlapping spans (first wins on a tie). */
function longestNonOverlapping(list: Span[]): Span[] {
  const sorted = [...list].sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: Span[] = [];
  for (const s of sorted) if (!kept.some((k) => overlaps(k, s))) kept.push(s);
  return kept.sort((a, b) => a.start - b.start);
}

export function labelReportDetailed(text: string, opts: LabelerOptions = {}): DetailedLabels {
  const lower = lowerKeepLength(text);
  const sentenceCuts = clauseCuts(text, lower);
  const mentions: Mention[] = [];

  for (const lx of COMPILED) {
    const excluded = spans(lx.exclusions, lower);
    const normal = spans(lx.normalForms, lower).map((s) => ({ ...s, fixed: "negative" as const }));
    const hedged = spans(lx.uncertainForms, lower).map((s) => ({ ...s, fixed: "uncertain" as const }));
    const plain = spans(lx.mentions, lower).map((s) => ({ ...s, fixed: null }));
    // Longer spans win: "heart size is normal" over "heart", "blunting of the costophrenic angle" over none.
    const all = [...hedged, ...normal, ...plain].filter((s) => !excluded.some((e) => overlaps(e, s)));
    const kept = longestNonOverlapping(all);
    for (const k of kept) {
      const found = all.find((a) => a.start === k.start && a.end === k.end);
      const clause = clauseOf(lower, sentenceCuts, k);
      let decision: Decision;
      if (found?.fixed === "uncertain") {
        decision = { status: "uncertain", cue: "hedged form" };
      } else if (found?.fixed === "negative") {
        // A stated normal state ("heart size is normal") is a negative mention whatever surrounds it.
        decision = { status: "negative", cue: "normal form" };
      } else {
        decision = classify(lower, clause, k);
      }
      mentions.push({
        label: lx.label,
        text: text.slice(k.start, k.end),
        start: k.start,
        end: k.end,
        ...decision,
      });
    }
  }
  mentions.sort((a, b) => a.start - b.start || a.label.localeCompare(b.label));

  const otherFindings = spans(OTHER, lower).map((s) => ({
    text: text.slice(s.start, s.end),
    start: s.start,
    end: s.end,
    ...classify(lower, clauseOf(lower, sentenceCuts, s), s),
  }));

  const allSpans: Span[] = [...mentions, ...otherFindings];
  for (const m of mentions) {
    const neighbours = allSpans.filter((n) => !overlaps(n, m));
    const laterality = lateralityOf(lower, clauseOf(lower, sentenceCuts, m), m, neighbours);
    if (laterality) m.laterality = laterality;
  }

  const { labels, noFindingReason } = aggregate(mentions, otherFindings, opts);
  return { labels, mentions, otherFindings, noFindingReason };
}

function aggregate(
  mentions: readonly Mention[],
  others: ReadonlyArray<{ text: string; status: MentionStatus }>,
  opts: LabelerOptions,
): { labels: LabelVector; noFindingReason: string } {
  const labels: LabelVector = CHEXPERT_LABELS.map((label): LabelValue => {
    const statuses = mentions.filter((m) => m.label === label).map((m) => m.status);
    if (statuses.includes("positive")) return 1;
    if (statuses.includes("uncertain")) return -1;
    if (statuses.includes("negative")) return 0;
    return null;
  });
  const noFinding = CHEXPERT_LABELS.indexOf("No Finding");
  const devices = CHEXPERT_LABELS.indexOf("Support Devices");
  const finding = labels.findIndex((v, i) => i !== noFinding && i !== devices && (v === 1 || v === -1));
  const other =
    (opts.otherFindingsBlockNoFinding ?? true)
      ? others.find((o) => o.status === "positive" || o.status === "uncertain")
      : undefined;
  labels[noFinding] = finding >= 0 || other ? null : 1;
  const noFindingReason =
    finding >= 0
      ? `blocked by ${CHEXPERT_LABELS[finding]} (${labels[finding] === 1 ? "positive" : "uncertain"})`
      : other
        ? `blocked by other finding: ${other.text.toLowerCase()} (${other.status})`
        : "no finding asserted";
  return { labels, noFindingReason };
}

/** The 14 CheXpert values of one report, in CHEXPERT_LABELS order: 1, 0, -1 or null. */
export function labelReport(text: string, opts: LabelerOptions = {}): LabelVector {
  return labelReportDetailed(text, opts).labels;
}

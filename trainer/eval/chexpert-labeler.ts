// Rule-based CheXpert-style labeler: mentions from the lexicon and normal-anatomy statements, a status
// per mention from the cues in its clause (mention-status.ts), then the CheXpert aggregation: positive
// if any mention is positive, else uncertain if any is uncertain, else negative if any is negated, else
// blank. No Finding is positive only when nothing but normal anatomy is asserted (see aggregate).

import {
  CHEXPERT_LABELS,
  type ChexpertLabel,
  type LabelVector,
  type LabelValue,
} from "../../common/chexpert.js";
import { LEXICON, OTHER_FINDINGS, type MentionedLabel } from "./chexpert-lexicon.js";
import { clauseCuts, clauseOf, lowerKeepLength, overlaps, spans, type Span } from "./clause-scope.js";
import { classifyMention, type Decision, type HedgeGrade, type MentionStatus } from "./mention-status.js";
import { EXPLAINED_AS_BENIGN_AFTER, POSSIBLE_BEFORE } from "./negation-cues.js";
import { NORMAL_ANATOMY } from "./normal-anatomy.js";

export type { HedgeGrade, MentionStatus } from "./mention-status.js";
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
  /** for uncertain mentions: probable ("likely", "versus") or possible ("may", "cannot exclude") */
  hedge?: HedgeGrade;
  laterality?: Laterality;
}

export interface LabelerOptions {
  /**
   * Let findings outside the 14 (granuloma, emphysema, degenerative spine…) and support devices block
   * No Finding as well. Default true: the IU X-ray annotators coded a report naming one as not normal.
   * false gives the plain CheXpert rule.
   */
  otherFindingsBlockNoFinding?: boolean;
  /**
   * What a possible-grade hedge ("may represent pneumonia", "cannot exclude") makes of its mention:
   * "uncertain" (default, the CheXpert convention) or "unmentioned" (the mention does not count for its
   * observation, though it still blocks No Finding), which is how the IU X-ray annotators coded them.
   */
  possibleHedge?: "uncertain" | "unmentioned";
}

export interface OtherFinding {
  text: string;
  start: number;
  end: number;
  status: MentionStatus;
  cue: string;
}

export interface DetailedLabels {
  labels: LabelVector;
  mentions: Mention[];
  /** mentions of findings outside the 14 (not labels; they only matter for No Finding) */
  otherFindings: OtherFinding[];
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
const ANATOMY = NORMAL_ANATOMY.map((a) => ({ re: wordRegex([a.pattern]), absent: a.absent }));

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
function longestNonOverlapping<T extends Span>(list: T[]): T[] {
  const sorted = [...list].sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: T[] = [];
  for (const s of sorted) if (!kept.some((k) => overlaps(k, s))) kept.push(s);
  return kept.sort((a, b) => a.start - b.start);
}

type Candidate = Span & { fixed: Decision | null };

const NORMAL_FORM: Decision = { status: "negative", cue: "normal form" };
const HEDGED_FORM: Decision = { status: "uncertain", cue: "hedged form", hedge: "probable" };

export function labelReportDetailed(text: string, opts: LabelerOptions = {}): DetailedLabels {
  const lower = lowerKeepLength(text);
  const cuts = clauseCuts(text, lower);
  const clause = (s: Span): Span => clauseOf(lower.length, cuts, s);
  const mentions: Mention[] = [];

  // Normal-anatomy statements: their words are not mentions, and they add negatives.
  const anatomy = ANATOMY.flatMap((a) => spans(a.re, lower).map((s) => ({ ...s, absent: a.absent })));
  for (const a of anatomy) {
    for (const label of a.absent) {
      const cue = `normal anatomy: ${lower.slice(a.start, a.end)}`;
      mentions.push({
        label,
        text: text.slice(a.start, a.end),
        start: a.start,
        end: a.end,
        status: "negative",
        cue,
      });
    }
  }

  for (const lx of COMPILED) {
    const excluded = spans(lx.exclusions, lower);
    const all: Candidate[] = [
      ...spans(lx.uncertainForms, lower).map((s) => ({ ...s, fixed: HEDGED_FORM })),
      ...spans(lx.normalForms, lower).map((s) => ({ ...s, fixed: NORMAL_FORM })),
      // A word inside a normal-anatomy statement ("pleural spaces are clear") mentions nothing.
      ...spans(lx.mentions, lower)
        .filter((s) => !anatomy.some((a) => overlaps(a, s)))
        .map((s) => ({ ...s, fixed: null })),
    ].filter((s) => !excluded.some((e) => overlaps(e, s)));
    // Longer spans win: "heart size is normal" over "heart", "blunting of the costophrenic angle" over none.
    for (const k of longestNonOverlapping(all)) {
      const c = clause(k);
      if (k.fixed === null && EXPLAINED_AS_BENIGN_AFTER.test(lower.slice(k.end, c.end))) continue;
      // A stated normal or hedged state ("heart size is normal") holds whatever surrounds it, except that
      // an indirect sign read with a modal ("blunting … may represent a small effusion") is only possible.
      let decision = k.fixed ?? classifyMention(lower, c, k);
      if (k.fixed === HEDGED_FORM && POSSIBLE_BEFORE.test(lower.slice(k.end, c.end)))
        decision = { ...HEDGED_FORM, cue: "hedged form read with a modal", hedge: "possible" };
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

  const otherFindings: OtherFinding[] = spans(OTHER, lower).map((s) => {
    const { status, cue } = classifyMention(lower, clause(s), s);
    return { text: text.slice(s.start, s.end), start: s.start, end: s.end, status, cue };
  });

  const allSpans: Span[] = [...mentions, ...otherFindings];
  for (const m of mentions) {
    const neighbours = allSpans.filter((n) => !overlaps(n, m));
    const laterality = lateralityOf(lower, clause(m), m, neighbours);
    if (laterality) m.laterality = laterality;
  }

  const { labels, noFindingReason } = aggregate(mentions, otherFindings, opts);
  return { labels, mentions, otherFindings, noFindingReason };
}

function aggregate(
  mentions: readonly Mention[],
  others: readonly OtherFinding[],
  opts: LabelerOptions,
): { labels: LabelVector; noFindingReason: string } {
  const dropPossible = opts.possibleHedge === "unmentioned";
  const counted = (m: Mention): boolean => !(dropPossible && m.hedge === "possible");
  const labels: LabelVector = CHEXPERT_LABELS.map((label): LabelValue => {
    const statuses = mentions.filter((m) => m.label === label && counted(m)).map((m) => m.status);
    if (statuses.includes("positive")) return 1;
    if (statuses.includes("uncertain")) return -1;
    if (statuses.includes("negative")) return 0;
    return null;
  });

  // No Finding: blocked by any of the other observations asserted or hedged (a possible hedge too:
  // a report that raises a finding is not a normal study) and, unless the plain CheXpert rule is
  // asked for, by a support device or a finding outside the 14, as the IU X-ray annotators coded them.
  const noFinding = CHEXPERT_LABELS.indexOf("No Finding");
  const extended = opts.otherFindingsBlockNoFinding ?? true;
  const blocking = mentions.find(
    (m) =>
      m.label !== "No Finding" &&
      (extended || m.label !== "Support Devices") &&
      (m.status === "positive" || m.status === "uncertain"),
  );
  const other = extended
    ? others.find((o) => o.status === "positive" || o.status === "uncertain")
    : undefined;
  labels[noFinding] = blocking || other ? null : 1;
  const noFindingReason = blocking
    ? `blocked by ${blocking.label}: "${blocking.text.toLowerCase()}" ${blocking.status} (${blocking.cue})`
    : other
      ? `blocked by other finding: "${other.text.toLowerCase()}" ${other.status} (${other.cue})`
      : "no finding asserted";
  return { labels, noFindingReason };
}

/** The 14 CheXpert values of one report, in CHEXPERT_LABELS order: 1, 0, -1 or null. */
export function labelReport(text: string, opts: LabelerOptions = {}): LabelVector {
  return labelReportDetailed(text, opts).labels;
}

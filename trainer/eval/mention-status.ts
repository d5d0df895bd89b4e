// The status of one mention from the cues in its clause, after the CheXpert labeler's three phases
// (uncertainty that reads as negation first, then negation, then uncertainty), with NegEx's pre- and
// post-negation triggers and pyConText's historical and graded-uncertainty modifiers. Returns the cue
// that decided, so an error listing can say why.

import { type Span } from "./clause-scope.js";
import {
  ALTERNATIVE_NEAR_AFTER,
  ALTERNATIVE_NEAR_BEFORE,
  HISTORICAL_BEFORE,
  NEGATION_AFTER,
  NEGATION_BEFORE,
  NEGATION_SCOPE_BREAK,
  NORMAL_AFTER,
  POSSIBLE_BEFORE,
  POSSIBLE_WORDS,
  PRE_NEGATION_UNCERTAINTY_AFTER,
  PRE_NEGATION_UNCERTAINTY_BEFORE,
  PROBABLE_BEFORE,
  PSEUDO_NEGATIONS,
  UNCERTAINTY_AFTER,
  VERB_AFTER_NEGATION,
} from "./negation-cues.js";

export type MentionStatus = "positive" | "negative" | "uncertain";
/** How strongly an uncertain mention leans to the finding (pyConText's probable vs possible existence). */
export type HedgeGrade = "probable" | "possible";

export interface Decision {
  status: MentionStatus;
  /** the rule or cue that decided ("negation before: no", "hedge before: may") */
  cue: string;
  /** only for uncertain mentions */
  hedge?: HedgeGrade;
}

/** Cues reach at most this far, which also bounds the work on text without punctuation. */
const MAX_CUE_REACH = 250;

function blankPseudoNegations(s: string): string {
  return s.replace(PSEUDO_NEGATIONS, (m) => " ".repeat(m.length));
}

/** The text a cue pattern matched, for the decision's description. */
function cueText(re: RegExp, s: string): string {
  re.lastIndex = 0;
  const m = re.exec(s);
  re.lastIndex = 0;
  return m ? m[0].trim() : "";
}

function uncertain(kind: string, re: RegExp, s: string, grade?: HedgeGrade): Decision {
  const cue = cueText(re, s);
  return {
    status: "uncertain",
    cue: `${kind}: ${cue}`,
    hedge: grade ?? (POSSIBLE_WORDS.test(cue) ? "possible" : "probable"),
  };
}

/** The last match of a global trigger before the mention, if no new assertion starts after it. */
function triggerInScope(re: RegExp, before: string): string | null {
  re.lastIndex = 0;
  let lastEnd = -1;
  let last = "";
  for (let m = re.exec(before); m !== null; m = re.exec(before)) {
    lastEnd = m.index + m[0].length;
    last = m[0];
  }
  re.lastIndex = 0;
  if (lastEnd < 0) return null;
  // A new verb or "with" after the trigger starts a new assertion, unless the verb is the trigger's own.
  return NEGATION_SCOPE_BREAK.test(before.slice(lastEnd).replace(VERB_AFTER_NEGATION, "")) ? null : last;
}

/** Status of the mention at `span` of `lower` from the cues in `clause`, and the cue that decided it. */
export function classifyMention(lower: string, clause: Span, span: Span): Decision {
  const before = blankPseudoNegations(
    lower.slice(Math.max(clause.start, span.start - MAX_CUE_REACH), span.start),
  );
  const inside = blankPseudoNegations(lower.slice(span.start, span.end));
  const after = lower.slice(span.end, Math.min(clause.end, span.end + MAX_CUE_REACH));

  // Phase 1: double negatives that hedge ("cannot exclude", "not ruled out").
  if (PRE_NEGATION_UNCERTAINTY_BEFORE.test(before))
    return uncertain("double negative before", PRE_NEGATION_UNCERTAINTY_BEFORE, before, "possible");
  if (PRE_NEGATION_UNCERTAINTY_AFTER.test(after))
    return uncertain("double negative after", PRE_NEGATION_UNCERTAINTY_AFTER, after, "possible");

  // Phase 2: negation and history. Inside a long mention ("heart is not enlarged") a cue always counts.
  NEGATION_BEFORE.lastIndex = 0;
  if (NEGATION_BEFORE.test(inside))
    return { status: "negative", cue: `negation inside: ${cueText(NEGATION_BEFORE, inside)}` };
  const negation = triggerInScope(NEGATION_BEFORE, before);
  if (negation !== null) return { status: "negative", cue: `negation before: ${negation}` };
  const historical = triggerInScope(HISTORICAL_BEFORE, before);
  if (historical !== null) return { status: "negative", cue: `historical before: ${historical}` };
  if (NEGATION_AFTER.test(after))
    return { status: "negative", cue: `negation after: ${cueText(NEGATION_AFTER, after)}` };
  if (NORMAL_AFTER.test(after))
    return { status: "negative", cue: `normal after: ${cueText(NORMAL_AFTER, after)}` };

  // Phase 3: hedges. A possible-grade cue anywhere before the mention in its clause sets the grade.
  if (POSSIBLE_BEFORE.test(before)) return uncertain("hedge before", POSSIBLE_BEFORE, before, "possible");
  if (PROBABLE_BEFORE.test(before)) return uncertain("hedge before", PROBABLE_BEFORE, before, "probable");
  if (POSSIBLE_BEFORE.test(inside)) return uncertain("hedge inside", POSSIBLE_BEFORE, inside, "possible");
  if (PROBABLE_BEFORE.test(inside)) return uncertain("hedge inside", PROBABLE_BEFORE, inside, "probable");
  // Findings offered as alternatives ("atelectasis versus pneumonia") are each held as probable.
  if (ALTERNATIVE_NEAR_BEFORE.test(before))
    return uncertain("alternative before", ALTERNATIVE_NEAR_BEFORE, before, "probable");
  if (ALTERNATIVE_NEAR_AFTER.test(after))
    return uncertain("alternative after", ALTERNATIVE_NEAR_AFTER, after, "probable");
  if (UNCERTAINTY_AFTER.test(after)) return uncertain("hedge after", UNCERTAINTY_AFTER, after);
  return { status: "positive", cue: "no cue in clause" };
}

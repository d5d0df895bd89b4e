// Per-report fact audit, the research's error taxonomy: the labeler reads the generated and the
// reference report; a finding asserted by the generated report but not by the reference is a
// hallucination, one asserted by the reference but missing from the generated report is an omission,
// and a finding both assert on different sides is a laterality error. A report is fully accurate when
// all 14 observations agree (positive or not, under the uncertain policy) and no side is wrong.

import { CHEXPERT_LABELS, type ChexpertLabel, type LabelVector } from "../../common/chexpert.js";
import type { Laterality, Mention } from "./chexpert-labeler.js";
import { isPositive, type UncertainPolicy } from "./clinical-metrics.js";

export interface ReportAudit {
  fullyAccurate: boolean;
  /** findings the generated report asserts and the reference does not */
  hallucinated: ChexpertLabel[];
  /** findings the reference asserts and the generated report does not */
  omitted: ChexpertLabel[];
  /** findings both assert, on different sides */
  wrongLaterality: Array<{ label: ChexpertLabel; generated: Laterality[]; reference: Laterality[] }>;
}

/** Findings in the audit: every observation but No Finding, which is derived from the others. */
export const AUDITED_LABELS: readonly ChexpertLabel[] = CHEXPERT_LABELS.filter((l) => l !== "No Finding");

function sides(mentions: readonly Mention[], label: ChexpertLabel, policy: UncertainPolicy): Set<Laterality> {
  const out = new Set<Laterality>();
  for (const m of mentions) {
    const counts = m.status === "positive" || (m.status === "uncertain" && policy === "positive");
    if (m.label === label && counts && m.laterality) out.add(m.laterality);
  }
  return out;
}

export function auditReport(
  generated: { labels: LabelVector; mentions: readonly Mention[] },
  reference: { labels: LabelVector; mentions?: readonly Mention[] },
  policy: UncertainPolicy,
): ReportAudit {
  const hallucinated: ChexpertLabel[] = [];
  const omitted: ChexpertLabel[] = [];
  const wrongLaterality: ReportAudit["wrongLaterality"] = [];
  let allAgree = true;
  CHEXPERT_LABELS.forEach((label, i) => {
    const g = isPositive(generated.labels[i], policy);
    const r = isPositive(reference.labels[i], policy);
    if (g !== r) allAgree = false;
    if (label === "No Finding") return;
    if (g && !r) hallucinated.push(label);
    if (r && !g) omitted.push(label);
    if (g && r && reference.mentions) {
      const gs = sides(generated.mentions, label, policy);
      const rs = sides(reference.mentions, label, policy);
      const same = gs.size === rs.size && [...gs].every((s) => rs.has(s));
      if (gs.size > 0 && rs.size > 0 && !same)
        wrongLaterality.push({ label, generated: [...gs], reference: [...rs] });
    }
  });
  return { fullyAccurate: allAgree && wrongLaterality.length === 0, hallucinated, omitted, wrongLaterality };
}

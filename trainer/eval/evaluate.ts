// evaluate(): every metric of a set of generated reports against their references, each named by
// the implementation it reproduces, and headline(): the flat numbers the trainer publishes as gauges.

import { textDiversity, type TextDiversity } from "./text-diversity.js";
import { CHEXPERT_LABELS, NUM_LABELS, type ChexpertLabel, type LabelVector } from "../../common/chexpert.js";
import { bootstrapMean, type Estimate } from "./bootstrap.js";
import { labelReportDetailed, type DetailedLabels } from "./chexpert-labeler.js";
import { clinicalMetrics, type ClinicalMetrics, type UncertainPolicy } from "./clinical-metrics.js";
import { cocoBleu, cocoRougeL } from "./coco-metrics.js";
import { cocoNormalize } from "./coco-normalize.js";
import { auditReport, type ReportAudit } from "./fact-audit.js";
import { tableConsistency, type TableConsistency } from "./table-consistency.js";
import type { FindingsTable } from "./findings-table.js";
import { headMetrics, type HeadMetrics } from "./head-metrics.js";
import { rougeL, rougeLsum, type PRF } from "./rouge-score.js";

export interface EvalRecord {
  id: string;
  generated: string;
  reference: string;
  /** ground-truth labels of the reference; the labeler reads the reference text when absent */
  referenceLabels?: LabelVector;
  /** 14 sigmoid outputs of the auxiliary head */
  headProbs?: number[];
  /** targets for the head; referenceLabels (or the labeler on the reference) when absent */
  headTargets?: LabelVector;
  /** the findings table the model produced with this report (findingsTable output or prompt) */
  findingsTable?: FindingsTable;
}

export interface EvalOptions {
  uncertain: UncertainPolicy;
  /** bootstrap resamples for the audit's 95% intervals; default 1000 */
  bootstrap?: number;
  /** seed of the bootstrap; default 0 */
  seed?: number;
  /** how many of the worst reports to list; default 10 */
  worstExamples?: number;
}

/** One report's results. */
export interface ReportResult {
  id: string;
  rougeL_rouge_score: PRF;
  generatedLabels: LabelVector;
  referenceLabels: LabelVector;
  audit: ReportAudit;
  /** the report against the model's own table, when it produced one */
  selfConsistency?: TableConsistency;
}

export interface WorstExample {
  id: string;
  generated: string;
  reference: string;
  errors: number;
  hallucinated: ChexpertLabel[];
  omitted: ChexpertLabel[];
  wrongLaterality: ChexpertLabel[];
  rougeL_rouge_score_f: number;
}

export interface EvalReport {
  schema: "radfleet.eval/v1";
  count: number;
  uncertainPolicy: UncertainPolicy;
  bootstrap: { resamples: number; seed: number };
  /** how each variant was computed, so nobody compares the wrong ones */
  variants: Record<string, string>;
  ngram: {
    rougeL_rouge_score: PRF;
    rougeL_rouge_score_stemmed: PRF;
    rougeLsum_rouge_score: PRF;
    rougeLsum_rouge_score_stemmed: PRF;
    rougeL_coco: number;
    bleu_coco: { bleu1: number; bleu2: number; bleu3: number; bleu4: number };
  };
  clinical: ClinicalMetrics;
  audit: {
    fullyAccurate: Estimate;
    hallucination: Estimate;
    omission: Estimate;
    wrongLaterality: Estimate;
    /** per observation: reports hallucinating it, reports omitting it */
    byLabel: Record<ChexpertLabel, { hallucinated: number; omitted: number; wrongLaterality: number }>;
    worst: WorstExample[];
  };
  head?: HeadMetrics;
  /** distinct reports and reports that repeat a sentence */
  diversity: TextDiversity;
  /** generated reports against the tables the model produced with them (findingsTable output/prompt) */
  selfConsistency?: {
    consistent: Estimate;
    contradiction: Estimate;
    unreported: Estimate;
    /** per observation: reports contradicting their table on it, reports leaving it out */
    byLabel: Record<ChexpertLabel, { contradicted: number; unreported: number }>;
  };
  reports: ReportResult[];
}

export const VARIANTS: Record<string, string> = {
  rougeL_rouge_score:
    "Google rouge-score 0.1.2 rougeL: lowercase, non-[a-z0-9] runs to spaces, no stemming; LCS P/R, F1 (β=1); mean over reports",
  rougeL_rouge_score_stemmed:
    "as rougeL_rouge_score with Porter stemming of tokens longer than 3 characters (use_stemmer=True)",
  rougeLsum_rouge_score:
    "rouge-score rougeLsum: summary-level union LCS over sentences (split after . followed by whitespace, one per line); mean over reports",
  rougeLsum_rouge_score_stemmed: "as rougeLsum_rouge_score with Porter stemming",
  rougeL_coco:
    "pycocoevalcap 1.2 Rouge: tokens = split(' ') of the coco-normalised text (lowercase, [a-z0-9.] kept, '.' a token), max P and R over references, F with β=1.2; mean over reports",
  bleu_coco:
    "pycocoevalcap 1.2 Bleu(4): whitespace tokens of the coco-normalised text, corpus-level clipped n-gram precision, closest reference length, brevity penalty",
  clinical:
    "radfleet CheXpert-style labeler on generated vs reference reports (or given reference labels); uncertain labels counted per uncertainPolicy; blank = negative",
  selfConsistency:
    "per report over the 13 findings (No Finding excluded), the labeler on the generated report against the model's own findings table: contradicted = table present and report denies it, or table absent and report asserts it; unreported = table present, report silent; consistent = neither; 95% CI by percentile bootstrap",
  audit:
    "per report over the 13 findings (No Finding excluded): hallucination = generated positive, reference not; omission = reference positive, generated not; fully accurate = all 14 agree and no laterality error; 95% CI by percentile bootstrap",
};

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function meanPRF(xs: readonly PRF[]): PRF {
  return {
    precision: mean(xs.map((x) => x.precision)),
    recall: mean(xs.map((x) => x.recall)),
    fmeasure: mean(xs.map((x) => x.fmeasure)),
  };
}

/** One sentence per line, so rougeLsum sees sentences. */
export function sentencesPerLine(text: string): string {
  return text.replace(/(?<=[.!?])\s+/g, "\n");
}

function checkVector(v: readonly unknown[] | undefined, what: string, id: string): void {
  if (v !== undefined && v.length !== NUM_LABELS) {
    throw new Error(
      `evaluate: record ${id}: ${what} has ${v.length} values, expected ${NUM_LABELS} in CHEXPERT_LABELS order`,
    );
  }
}

export function evaluate(records: readonly EvalRecord[], opts: EvalOptions): EvalReport {
  const policy = opts.uncertain;
  const resamples = opts.bootstrap ?? 1000;
  const seed = opts.seed ?? 0;
  const worstN = opts.worstExamples ?? 10;

  const gen: DetailedLabels[] = [];
  const ref: Array<{ labels: LabelVector; mentions: DetailedLabels["mentions"] }> = [];
  for (const r of records) {
    checkVector(r.referenceLabels, "referenceLabels", r.id);
    checkVector(r.headProbs, "headProbs", r.id);
    checkVector(r.headTargets, "headTargets", r.id);
    gen.push(labelReportDetailed(r.generated));
    const refDetailed = labelReportDetailed(r.reference);
    ref.push({ labels: r.referenceLabels ?? refDetailed.labels, mentions: refDetailed.mentions });
  }

  const rl = records.map((r) => rougeL(r.reference, r.generated, { stem: false }));
  const rlS = records.map((r) => rougeL(r.reference, r.generated, { stem: true }));
  const rls = records.map((r) =>
    rougeLsum(sentencesPerLine(r.reference), sentencesPerLine(r.generated), { stem: false }),
  );
  const rlsS = records.map((r) =>
    rougeLsum(sentencesPerLine(r.reference), sentencesPerLine(r.generated), { stem: true }),
  );
  const cocoPairs = records.map((r) => ({
    hypothesis: cocoNormalize(r.generated),
    references: [cocoNormalize(r.reference)],
  }));
  const bleu = records.length ? cocoBleu(cocoPairs).bleu : [0, 0, 0, 0];
  const cocoR = cocoRougeL(cocoPairs).rougeL;

  const clinical = clinicalMetrics(
    gen.map((g) => g.labels),
    ref.map((r) => r.labels),
    policy,
  );

  const audits = records.map((_, i) => auditReport(gen[i], ref[i], policy));
  const est = (f: (a: ReportAudit) => boolean, salt: number): Estimate =>
    bootstrapMean(
      audits.map((a) => (f(a) ? 1 : 0)),
      resamples,
      seed + salt,
    );
  const byLabel = Object.fromEntries(
    CHEXPERT_LABELS.map((l) => [
      l,
      {
        hallucinated: audits.filter((a) => a.hallucinated.includes(l)).length,
        omitted: audits.filter((a) => a.omitted.includes(l)).length,
        wrongLaterality: audits.filter((a) => a.wrongLaterality.some((w) => w.label === l)).length,
      },
    ]),
  ) as EvalReport["audit"]["byLabel"];

  const worst: WorstExample[] = records
    .map((r, i) => ({
      id: r.id,
      generated: r.generated,
      reference: r.reference,
      errors: audits[i].hallucinated.length + audits[i].omitted.length + audits[i].wrongLaterality.length,
      hallucinated: audits[i].hallucinated,
      omitted: audits[i].omitted,
      wrongLaterality: audits[i].wrongLaterality.map((w) => w.label),
      rougeL_rouge_score_f: rl[i].fmeasure,
    }))
    .filter((w) => w.errors > 0)
    .sort(
      (a, b) =>
        b.errors - a.errors || a.rougeL_rouge_score_f - b.rougeL_rouge_score_f || a.id.localeCompare(b.id),
    )
    .slice(0, worstN);

  let head: HeadMetrics | undefined;
  const withHead = records.filter((r) => r.headProbs !== undefined);
  if (withHead.length > 0) {
    if (withHead.length !== records.length) {
      throw new Error(
        `evaluate: ${withHead.length} of ${records.length} records have headProbs; give them for all or none`,
      );
    }
    head = headMetrics(
      records.map((r) => r.headProbs as number[]),
      records.map((r, i) => r.headTargets ?? ref[i].labels),
      policy,
    );
  }

  const withTable = records.filter((r) => r.findingsTable !== undefined).length;
  if (withTable > 0 && withTable !== records.length) {
    throw new Error(
      `evaluate: ${withTable} of ${records.length} records have a findings table; give them for all or none`,
    );
  }
  const consistency = withTable
    ? records.map((r, i) => tableConsistency(gen[i].labels, r.findingsTable as FindingsTable, policy))
    : undefined;
  const selfConsistency = consistency && {
    consistent: bootstrapMean(
      consistency.map((c) => (c.consistent ? 1 : 0)),
      resamples,
      seed + 5,
    ),
    contradiction: bootstrapMean(
      consistency.map((c) => (c.contradicted.length > 0 ? 1 : 0)),
      resamples,
      seed + 6,
    ),
    unreported: bootstrapMean(
      consistency.map((c) => (c.unreported.length > 0 ? 1 : 0)),
      resamples,
      seed + 7,
    ),
    byLabel: Object.fromEntries(
      CHEXPERT_LABELS.map((l) => [
        l,
        {
          contradicted: consistency.filter((c) => c.contradicted.includes(l)).length,
          unreported: consistency.filter((c) => c.unreported.includes(l)).length,
        },
      ]),
    ) as NonNullable<EvalReport["selfConsistency"]>["byLabel"],
  };

  return {
    schema: "radfleet.eval/v1",
    count: records.length,
    uncertainPolicy: policy,
    bootstrap: { resamples, seed },
    variants: VARIANTS,
    ngram: {
      rougeL_rouge_score: meanPRF(rl),
      rougeL_rouge_score_stemmed: meanPRF(rlS),
      rougeLsum_rouge_score: meanPRF(rls),
      rougeLsum_rouge_score_stemmed: meanPRF(rlsS),
      rougeL_coco: cocoR,
      bleu_coco: { bleu1: bleu[0], bleu2: bleu[1], bleu3: bleu[2], bleu4: bleu[3] },
    },
    clinical,
    audit: {
      fullyAccurate: est((a) => a.fullyAccurate, 1),
      hallucination: est((a) => a.hallucinated.length > 0, 2),
      omission: est((a) => a.omitted.length > 0, 3),
      wrongLaterality: est((a) => a.wrongLaterality.length > 0, 4),
      byLabel,
      worst,
    },
    ...(head ? { head } : {}),
    diversity: textDiversity(records),
    ...(selfConsistency ? { selfConsistency } : {}),
    reports: records.map((r, i) => ({
      id: r.id,
      rougeL_rouge_score: rl[i],
      generatedLabels: gen[i].labels,
      referenceLabels: ref[i].labels,
      audit: audits[i],
      ...(consistency ? { selfConsistency: consistency[i] } : {}),
    })),
  };
}

/** Flat metric names → values, for Prometheus gauges and logs. Names carry the variant. */
export function headline(report: EvalReport): Record<string, number> {
  const n = report.ngram;
  const c = report.clinical;
  const out: Record<string, number> = {
    rougeL_rouge_score_f: n.rougeL_rouge_score.fmeasure,
    rougeL_rouge_score_stemmed_f: n.rougeL_rouge_score_stemmed.fmeasure,
    rougeLsum_rouge_score_f: n.rougeLsum_rouge_score.fmeasure,
    rougeLsum_rouge_score_stemmed_f: n.rougeLsum_rouge_score_stemmed.fmeasure,
    rougeL_coco_f: n.rougeL_coco,
    bleu1_coco: n.bleu_coco.bleu1,
    bleu2_coco: n.bleu_coco.bleu2,
    bleu3_coco: n.bleu_coco.bleu3,
    bleu4_coco: n.bleu_coco.bleu4,
    clinical_precision_micro_14: c.micro14.precision,
    clinical_recall_micro_14: c.micro14.recall,
    clinical_f1_micro_14: c.micro14.f1,
    clinical_f1_macro_14: c.macro14.f1,
    clinical_precision_micro_5: c.micro5.precision,
    clinical_recall_micro_5: c.micro5.recall,
    clinical_f1_micro_5: c.micro5.f1,
    clinical_f1_macro_5: c.macro5.f1,
    fully_accurate_rate: report.audit.fullyAccurate.value,
    hallucination_rate: report.audit.hallucination.value,
    omission_rate: report.audit.omission.value,
    wrong_laterality_rate: report.audit.wrongLaterality.value,
    distinct_report_rate: report.diversity.distinctRate,
    repeated_sentence_rate: report.diversity.repeatingRate,
    eval_reports: report.count,
  };
  if (report.selfConsistency) {
    out.self_consistency_rate = report.selfConsistency.consistent.value;
    out.self_contradiction_rate = report.selfConsistency.contradiction.value;
  }
  if (report.head) {
    out.head_macro_f1 = report.head.macroF1;
    if (report.head.macroAuroc !== null) out.head_macro_auroc = report.head.macroAuroc;
  }
  return out;
}

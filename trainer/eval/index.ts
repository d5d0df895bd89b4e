// Public surface of evaluation: n-gram metrics, the CheXpert-style labeler, clinical metrics,
// the fact audit, evaluate()/headline() and the report writer. Evaluation reads texts and labels only.
export { porterStem } from "./porter-stemmer.js";
export { rougeL, rougeLsum, rougeTokenize, type PRF } from "./rouge-score.js";
export { cocoBleu, cocoRougeL, cocoRougeLPair, type CocoPair, type CocoBleu } from "./coco-metrics.js";
export { cocoNormalize } from "./coco-normalize.js";
export {
  labelReport,
  labelReportDetailed,
  type DetailedLabels,
  type HedgeGrade,
  type LabelerOptions,
  type Laterality,
  type Mention,
  type MentionStatus,
} from "./chexpert-labeler.js";
export {
  clinicalMetrics,
  isPositive,
  type ClinicalMetrics,
  type PRFScores,
  type UncertainPolicy,
} from "./clinical-metrics.js";
export { auditReport, AUDITED_LABELS, type ReportAudit } from "./fact-audit.js";
export { headMetrics, auroc, type HeadMetrics } from "./head-metrics.js";
export { bootstrapMean, bootstrapStatistic, percentile, type Estimate } from "./bootstrap.js";
export {
  evaluate,
  headline,
  VARIANTS,
  type EvalOptions,
  type EvalRecord,
  type EvalReport,
  type ReportResult,
  type WorstExample,
} from "./evaluate.js";
export { writeEvalReport, renderMarkdown } from "./report-writer.js";
export {
  benchmarkLabeler,
  describeDecision,
  loadIuValidation,
  type IuStudy,
  type LabelerBenchmark,
  type LabelerBenchmarkOptions,
  type LabelerError,
  type LabelerPartScores,
  type LabelScores,
} from "./labeler-benchmark.js";
export { LABELER_SPLIT_SEED, splitLabelerStudies, type LabelerSplitPart } from "./labeler-split.js";
export { parseIuGold, IU_GOLD_MAPPING, IU_GOLD_OPTIONAL, iuStudyKey } from "./iu-gold.js";
export { readEvalInputs, readReportsFile, csvField, type ReportRow } from "./eval-inputs.js";
export {
  TABLE_STATES,
  SEVERITIES,
  presentIn,
  parseFindingsTable,
  type FindingsTable,
  type TableRow,
  type TableState,
  type Severity,
} from "./findings-table.js";
export {
  textDiversity,
  distinctCount,
  repeatedSentences,
  sentencesOf,
  type TextDiversity,
} from "./text-diversity.js";
export { tableConsistency, type TableConsistency } from "./table-consistency.js";

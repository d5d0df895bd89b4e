// The structured findings table (task.findingsTable): building it from labels or the classifier's
// probabilities, its text form, and the classifier's thresholds. The table's record format and the
// report-versus-table consistency check belong to evaluation (it reads tables); they are
// re-exported here for the code that builds tables. Prompts that carry a table are the training
// loop's (trainer/train/table-prompts.ts): they join the table to the model's tokenizer.
export {
  TABLE_STATES,
  SEVERITIES,
  presentIn,
  parseFindingsTable,
  tableConsistency,
  type FindingsTable,
  type TableRow,
  type TableState,
  type Severity,
  type TableConsistency,
} from "../eval/index.js";
export {
  tableFromLabels,
  tableFromProbs,
  renderTableText,
  tableVocabulary,
  longestTables,
  severityOf,
} from "./table.js";
export {
  tuneThresholds,
  thresholdsFromFile,
  defaultThresholds,
  THRESHOLDS_FILE,
  DEFAULT_THRESHOLD,
  type ThresholdsFile,
  type TunedThresholds,
} from "./thresholds.js";

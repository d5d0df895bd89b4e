// The structured findings table (task.findingsTable): its format, the classifier's thresholds,
// table-carrying prompts and the report-versus-table consistency check.
export {
  TABLE_STATES,
  SEVERITIES,
  tableFromLabels,
  tableFromProbs,
  renderTableText,
  tableVocabulary,
  longestTables,
  presentIn,
  severityOf,
  parseFindingsTable,
  type FindingsTable,
  type TableRow,
  type TableState,
  type Severity,
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
export { tableConsistency, type TableConsistency } from "./consistency.js";
export { TablePrompts, describePrompt } from "./prompting.js";

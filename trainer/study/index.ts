// Public surface of studies: a study file expanded into runs, the finished runs' per-report results,
// the two-stage bootstrap comparison of cells and its Markdown and JSON outputs.
export {
  planStudy,
  loadStudyFile,
  setPath,
  StudyError,
  type StudyCell,
  type StudyPlan,
  type StudyRun,
} from "./study-spec.js";
export { loadRunResults, alignRuns, type RunResults } from "./study-results.js";
export {
  studyStatistics,
  holm,
  STUDY_METRICS,
  type StudyMetric,
  type StudyStatistics,
  type CellStatistics,
  type Comparison,
  type Interval,
} from "./study-statistics.js";
export { studyResults, renderStudyMarkdown, STUDY_METHOD, type StudyResults } from "./study-report.js";

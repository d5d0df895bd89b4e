// The TrainingRun's status fields that are written the same way from any phase: conditions (whose
// transition time moves only when their status changes) and the progress columns read from the
// coordinator's report (step, progress, ETA, loss, generation, last checkpoint, evaluation).
import type {
  ConditionStatus,
  ConditionType,
  RunCondition,
  RunProgress,
  TrainingRunStatus,
} from "./types.js";

/** Replaces the condition of `type` in place (or appends it), keeping its transition time when the status holds. */
export function setCondition(
  list: RunCondition[],
  type: ConditionType,
  status: ConditionStatus,
  reason: string,
  message: string,
  nowIso: string,
  observedGeneration: number | undefined,
): void {
  const i = list.findIndex((c) => c.type === type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: RunCondition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime:
      prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : nowIso,
    observedGeneration,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Copies the coordinator's progress into the status columns; the ETA extrapolates from startTime. */
export function applyProgress(st: TrainingRunStatus, p: RunProgress | undefined, nowMs: number): void {
  if (!p) return;
  st.step = p.step;
  st.totalSteps = p.totalSteps;
  if (p.totalSteps > 0) {
    const frac = Math.min(1, p.step / p.totalSteps);
    st.progress = `${Math.floor(frac * 100)}%`;
    const started = st.startTime ? new Date(st.startTime).getTime() : undefined;
    if (p.step >= p.totalSteps) st.eta = "0s";
    else if (started !== undefined && p.step > 0 && nowMs > started) {
      st.eta = formatDuration((((nowMs - started) / p.step) * (p.totalSteps - p.step)) / 1000);
    }
  }
  if (p.loss !== undefined && Number.isFinite(p.loss)) st.loss = p.loss.toFixed(4);
  else if (p.loss !== undefined) st.loss = String(p.loss);
  if (p.generation !== undefined) st.generation = p.generation;
  if (p.worldSize !== undefined) st.worldSize = p.worldSize;
  if (p.restarts !== undefined) st.restarts = Math.max(st.restarts ?? 0, p.restarts);
  if (p.lastCheckpoint) st.lastCheckpoint = { ...p.lastCheckpoint };
  if (p.evaluation) st.evaluation = { ...p.evaluation };
}

// Learning-rate schedules with linear warmup, as torchtune / transformers define them:
// warmup rises linearly from 0 to the peak over `warmupSteps`; then constant, linear decay to 0,
// or cosine decay to 0 at `totalSteps`.

export interface ScheduleOptions {
  kind: "constant" | "linear" | "cosine";
  peak: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for optimizer step `step` (0-based: the step about to be taken). */
export function learningRate(step: number, o: ScheduleOptions): number {
  if (o.warmupSteps > 0 && step < o.warmupSteps) return (o.peak * (step + 1)) / o.warmupSteps;
  if (o.kind === "constant") return o.peak;
  const decaySteps = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / decaySteps);
  if (o.kind === "linear") return o.peak * (1 - progress);
  return o.peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}

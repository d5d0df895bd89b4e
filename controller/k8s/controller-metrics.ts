// The controller's own metrics (house rules: radfleet_ prefix, base units, _total counters).
import { counter, gauge, histogram, type Registry } from "../../common/metrics.js";
import { RUN_PHASES, type RunPhase } from "../../common/spec/index.js";

export interface ControllerMetrics {
  setRunPhase(key: string, phase: RunPhase | undefined): void;
  observeReconcile(seconds: number, ok: boolean): void;
  addPodRestarts(n: number): void;
}

export function controllerMetrics(reg: Registry): ControllerMetrics {
  const runs = gauge(reg, { name: "radfleet_runs", help: "TrainingRuns by phase.", labelNames: ["phase"] });
  const duration = histogram(reg, {
    name: "radfleet_reconcile_duration_seconds",
    help: "Time to reconcile one TrainingRun.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const errors = counter(reg, {
    name: "radfleet_reconcile_errors_total",
    help: "Reconciles that ended in an error (retried with back-off).",
  });
  const restarts = counter(reg, {
    name: "radfleet_pod_restarts_total",
    help: "Trainer or coordinator pods replaced after a failure.",
  });
  const phases = new Map<string, RunPhase>();
  const publish = () => {
    const counts = Object.fromEntries(RUN_PHASES.map((p) => [p, 0])) as Record<RunPhase, number>;
    for (const p of phases.values()) counts[p] += 1;
    for (const p of RUN_PHASES) runs.set({ phase: p }, counts[p]);
  };
  publish();
  return {
    setRunPhase(key, phase) {
      if (phase === undefined) phases.delete(key);
      else phases.set(key, phase);
      publish();
    },
    observeReconcile(seconds, ok) {
      duration.observe(seconds);
      if (!ok) errors.inc();
    },
    addPodRestarts(n) {
      if (n > 0) restarts.inc(n);
    },
  };
}

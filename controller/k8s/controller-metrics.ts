// The controller's own metrics (house rules: radfleet_ prefix, base units, _total counters).
import { counter, gauge, histogram, type Registry } from "../../common/metrics.js";
import { RUN_PHASES, type RunPhase } from "../../common/spec/index.js";

export interface ControllerMetrics {
  /** key: namespace/name; undefined when the run is gone. */
  setRunPhase(key: string, phase: RunPhase | undefined, nowMs?: number): void;
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
  // Per run, for the alerts on one run (Failed, Pending too long): the phase it is in (1) and since
  // when, as this controller saw it. The run's namespace is run_namespace: a scrape adds the
  // controller's own namespace as namespace.
  const runPhase = gauge(reg, {
    name: "radfleet_run_phase",
    help: "1 for the phase each TrainingRun is in.",
    labelNames: ["run_namespace", "run", "phase"],
  });
  const runPhaseSince = gauge(reg, {
    name: "radfleet_run_phase_since_timestamp_seconds",
    help: "Unix time each TrainingRun entered its phase (as this controller process first saw it).",
    labelNames: ["run_namespace", "run"],
  });
  const phases = new Map<string, RunPhase>();
  const perRun = (key: string) => {
    const slash = key.indexOf("/");
    return { run_namespace: key.slice(0, slash), run: key.slice(slash + 1) };
  };
  const publish = () => {
    const counts = Object.fromEntries(RUN_PHASES.map((p) => [p, 0])) as Record<RunPhase, number>;
    for (const p of phases.values()) counts[p] += 1;
    for (const p of RUN_PHASES) runs.set({ phase: p }, counts[p]);
  };
  publish();
  return {
    setRunPhase(key, phase, nowMs = Date.now()) {
      const before = phases.get(key);
      const labels = perRun(key);
      if (before !== undefined && before !== phase) runPhase.remove({ ...labels, phase: before });
      if (phase === undefined) {
        phases.delete(key);
        runPhaseSince.remove(labels);
      } else {
        phases.set(key, phase);
        runPhase.set({ ...labels, phase }, 1);
        if (before !== phase) runPhaseSince.set(labels, nowMs / 1000);
      }
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

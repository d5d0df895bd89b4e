// The trainer's Prometheus metrics. Names are part of the product's interface: the Grafana
// dashboard and the alert rules in charts/radfleet query exactly these.
import { counter, gauge, histogram, type Registry } from "../../common/metrics.js";

export function trainerMetrics(reg: Registry) {
  return {
    backendInfo: gauge(reg, {
      name: "radfleet_trainer_backend_info",
      help: "The tensor engine this trainer runs on (always 1): library version and threads per op",
      labelNames: ["version", "threads"] as const,
    }),
    loss: gauge(reg, {
      name: "radfleet_train_loss",
      help: "Training loss of the last step",
      labelNames: ["kind"] as const,
    }),
    step: gauge(reg, { name: "radfleet_train_step", help: "Optimizer steps completed" }),
    totalSteps: gauge(reg, { name: "radfleet_train_total_steps", help: "Optimizer steps the run will take" }),
    learningRate: gauge(reg, {
      name: "radfleet_train_learning_rate",
      help: "Learning rate of the last step",
    }),
    gradNorm: gauge(reg, { name: "radfleet_train_grad_norm", help: "Global gradient norm before clipping" }),
    samples: counter(reg, {
      name: "radfleet_train_samples_total",
      help: "Training examples processed by this worker",
    }),
    tokens: counter(reg, {
      name: "radfleet_train_tokens_total",
      help: "Report tokens processed by this worker",
    }),
    stepPhase: histogram(reg, {
      name: "radfleet_train_step_phase_seconds",
      help: "Time per step spent in each phase",
      labelNames: ["phase"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    nonFinite: counter(reg, {
      name: "radfleet_train_nonfinite_steps_total",
      help: "Steps skipped for a non-finite loss or gradient",
    }),
    checkpointDuration: histogram(reg, {
      name: "radfleet_checkpoint_duration_seconds",
      help: "Time to write and commit a checkpoint",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
    checkpointFailures: counter(reg, {
      name: "radfleet_checkpoint_failures_total",
      help: "Checkpoint writes or commits that failed",
    }),
    lastCommit: gauge(reg, {
      name: "radfleet_checkpoint_last_commit_timestamp_seconds",
      help: "Unix time of the last committed checkpoint",
    }),
    // The staleness alert compares these with radfleet_train_step: in steps, so it does not depend
    // on how long an interval takes, and a replaced pod reports the step it restored at once.
    lastCommitStep: gauge(reg, {
      name: "radfleet_checkpoint_last_commit_step",
      help: "Step of the last committed checkpoint (set at each commit and at restore; 0 before the first)",
    }),
    checkpointInterval: gauge(reg, {
      name: "radfleet_checkpoint_interval_steps",
      help: "Steps between checkpoints (spec.checkpoint.interval)",
    }),
    evalMetric: gauge(reg, {
      name: "radfleet_eval_metric",
      help: "Latest evaluation headline metrics",
      labelNames: ["metric"] as const,
    }),
    tensorMemory: gauge(reg, {
      name: "radfleet_tensor_memory_bytes",
      help: "Bytes held by live tensors in the tensor engine",
    }),
    generationRestarts: counter(reg, {
      name: "radfleet_train_generation_restarts_total",
      help: "Generations this worker left because one ended",
    }),
  };
}

export type TrainerMetrics = ReturnType<typeof trainerMetrics>;

// The run spec as the controller applies it: what the TrainingRun object and the controller's own
// configuration fill in where the spec itself is silent.
import type { RunSpec } from "../../common/spec/index.js";
import { KUEUE_QUEUE_LABEL } from "./labels.js";
import { usesVolcano } from "./scheduler-handoff.js";
import type { TrainingRunObject } from "./types.js";

/** The controller's NATS (the chart's nats.url) for a run whose spec names none. */
export function withDefaultNats(spec: RunSpec, defaultNatsUrl: string | undefined): RunSpec {
  if (spec.nats.url || !defaultNatsUrl) return spec;
  return { ...spec, nats: { ...spec.nats, url: defaultNatsUrl } };
}

/**
 * Kueue's convention is the queue label on the workload object itself; a TrainingRun labelled
 * `kueue.x-k8s.io/queue-name` and no `scheduling.queueName` gets that queue.
 */
export function withRunQueueLabel(run: TrainingRunObject, spec: RunSpec): RunSpec {
  const label = run.metadata.labels?.[KUEUE_QUEUE_LABEL];
  if (!label || spec.scheduling.queueName !== undefined || usesVolcano(spec)) return spec;
  return { ...spec, scheduling: { ...spec.scheduling, queueName: label } };
}

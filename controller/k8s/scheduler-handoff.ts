// Which scheduler places a run's trainers, and what they carry for it. Kueue (plain-Pod
// integration) admits them as one pod group from a LocalQueue; Volcano gang-schedules them through
// a PodGroup the controller owns. Either way an external queue, not radfleet's gang timeout,
// decides when the gang starts.
import type { RunSpec } from "../../common/spec/index.js";
import {
  KUEUE_POD_GROUP_COUNT_ANNOTATION,
  KUEUE_POD_GROUP_LABEL,
  KUEUE_QUEUE_LABEL,
  VOLCANO_GROUP_ANNOTATION,
  VOLCANO_QUEUE_ANNOTATION,
  VOLCANO_SCHEDULER,
  podGroupName,
} from "./labels.js";
import type { TrainingRunObject } from "./types.js";

/** Volcano gang-schedules the trainers through a PodGroup the controller owns. */
export const usesVolcano = (spec: RunSpec): boolean => spec.scheduling.schedulerName === VOLCANO_SCHEDULER;

/**
 * The Kueue LocalQueue the trainers are submitted to. With Volcano, `scheduling.queueName` names
 * the Volcano Queue instead: the two queueing systems are alternatives, never stacked.
 */
export const kueueQueue = (spec: RunSpec): string | undefined =>
  usesVolcano(spec) ? undefined : spec.scheduling.queueName;

/** True when an external queue (Kueue, Volcano) owns admission and gang timing. */
export function defersScheduling(spec: RunSpec): boolean {
  return kueueQueue(spec) !== undefined || usesVolcano(spec);
}

/**
 * Scheduler hand-off for trainer pods. Kueue (plain-Pod integration): the queue label plus a pod
 * group of all `replicas.max` trainers, so its webhook gates them and it admits them together.
 * Volcano: the PodGroup annotation (and queue), the group itself is desiredPodGroup.
 */
export function gangMetadata(
  run: TrainingRunObject,
  spec: RunSpec,
): { labels: Record<string, string>; annotations: Record<string, string> } {
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const kueue = kueueQueue(spec);
  if (kueue) {
    labels[KUEUE_QUEUE_LABEL] = kueue;
    labels[KUEUE_POD_GROUP_LABEL] = run.metadata.name;
    annotations[KUEUE_POD_GROUP_COUNT_ANNOTATION] = String(spec.replicas.max);
  }
  if (usesVolcano(spec)) {
    annotations[VOLCANO_GROUP_ANNOTATION] = podGroupName(run.metadata.name);
    if (spec.scheduling.queueName) annotations[VOLCANO_QUEUE_ANNOTATION] = spec.scheduling.queueName;
  }
  return { labels, annotations };
}

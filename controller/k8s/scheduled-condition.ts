// The Scheduled condition: whether the gang (min replicas of trainers) is placed. Either enough
// trainers are bound, or the PodGroup API is missing, or an external queue (Kueue, Volcano) holds
// the gang, or radfleet's own gang timeout is running (or has run out: Unschedulable).
import type { V1Pod } from "@kubernetes/client-node";
import type { RunSpec } from "../../common/spec/index.js";
import { kueueQueue } from "./scheduler-handoff.js";
import { creationMs, isScheduled, unschedulableMessage } from "./pod-state.js";
import type { ConditionStatus, PodGroupObject } from "./types.js";

export interface ScheduledCondition {
  status: ConditionStatus;
  reason: "GangScheduled" | "PodGroupUnavailable" | "WaitingForQueue" | "Unschedulable" | "Waiting";
  message: string;
  /** The gang timeout ran out before min replicas were placed. */
  unschedulable: boolean;
  /** The gang timeout runs out after this long: plan again then. */
  wakeMs?: number;
}

export interface GangObservation {
  /** The newest live pod of each trainer slot. */
  trainers: V1Pod[];
  /** Why the PodGroup the trainers wait for cannot exist, when it cannot. */
  podGroupMissing?: string;
  /** True when an external queue owns admission and gang timing. */
  defersToQueue: boolean;
  podGroup?: PodGroupObject;
}

/** Where an external queue stands, for the condition's message. */
export function queueState(spec: RunSpec, pg: PodGroupObject | undefined): string {
  const kueue = kueueQueue(spec);
  if (kueue) return `admission deferred to Kueue queue ${kueue}`;
  const q = spec.scheduling.queueName ? ` queue ${spec.scheduling.queueName}` : "";
  let msg = `admission deferred to Volcano${q}`;
  if (pg?.status?.phase) msg += `; PodGroup ${pg.status.phase}`;
  const why = pg?.status?.conditions?.find((c) => c.type === "Unschedulable" && c.status === "True");
  if (why?.message) msg += `: ${why.message}`;
  return msg;
}

export function scheduledCondition(spec: RunSpec, o: GangObservation, nowMs: number): ScheduledCondition {
  const scheduled = o.trainers.filter(isScheduled).length;
  const { min, max } = spec.replicas;
  if (scheduled >= min) {
    return {
      status: "True",
      reason: "GangScheduled",
      message: `${scheduled} of ${max} workers scheduled (min ${min})`,
      unschedulable: false,
    };
  }
  if (o.podGroupMissing !== undefined) {
    return {
      status: "False",
      reason: "PodGroupUnavailable",
      message: o.podGroupMissing,
      unschedulable: false,
    };
  }
  if (o.defersToQueue) {
    // The queue decides when the gang starts; our own gang timeout does not apply.
    return {
      status: "False",
      reason: "WaitingForQueue",
      message: queueState(spec, o.podGroup),
      unschedulable: false,
    };
  }
  const waiting = o.trainers.filter((p) => !isScheduled(p));
  const since = Math.min(...waiting.map((p) => creationMs(p) ?? nowMs), nowMs);
  const timeout = spec.scheduling.gangTimeoutSeconds;
  const due = since + timeout * 1000;
  if (waiting.length > 0 && nowMs >= due) {
    const why = waiting.map(unschedulableMessage).find((m) => m !== undefined) ?? "pods not scheduled";
    return {
      status: "False",
      reason: "Unschedulable",
      message: `${scheduled} of min ${min} workers scheduled after ${timeout}s: ${why}`,
      unschedulable: true,
    };
  }
  return {
    status: "False",
    reason: "Waiting",
    message: `${scheduled} of min ${min} workers scheduled`,
    unschedulable: false,
    ...(waiting.length > 0 ? { wakeMs: due - nowMs } : {}),
  };
}

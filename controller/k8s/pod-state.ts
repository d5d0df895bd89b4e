// Reading what a pod's status says, in the terms the planner needs. Pure.
import type { V1Pod } from "@kubernetes/client-node";
import { LABEL_ATTEMPT, LABEL_ROLE, LABEL_WORKER, type PodRole } from "./labels.js";

export function podRole(pod: V1Pod): PodRole | undefined {
  const r = pod.metadata?.labels?.[LABEL_ROLE];
  return r === "coordinator" || r === "trainer" ? r : undefined;
}

export function podIndex(pod: V1Pod): number | undefined {
  const v = pod.metadata?.labels?.[LABEL_WORKER];
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export function podAttempt(pod: V1Pod): number {
  const n = Number(pod.metadata?.labels?.[LABEL_ATTEMPT] ?? "0");
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export const isTerminating = (pod: V1Pod): boolean => pod.metadata?.deletionTimestamp !== undefined;
export const isFailed = (pod: V1Pod): boolean => pod.status?.phase === "Failed";
export const isSucceeded = (pod: V1Pod): boolean => pod.status?.phase === "Succeeded";
export const isRunning = (pod: V1Pod): boolean => pod.status?.phase === "Running";

export function isReady(pod: V1Pod): boolean {
  return (
    isRunning(pod) && (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

export function isScheduled(pod: V1Pod): boolean {
  if (pod.spec?.nodeName) return true;
  return (pod.status?.conditions ?? []).some((c) => c.type === "PodScheduled" && c.status === "True");
}

/** The scheduler's explanation when it could not place the pod, e.g. "0/3 nodes are available: ...". */
export function unschedulableMessage(pod: V1Pod): string | undefined {
  const c = (pod.status?.conditions ?? []).find((x) => x.type === "PodScheduled" && x.status === "False");
  if (!c) return undefined;
  return c.message ?? c.reason ?? "not scheduled";
}

function toMs(t: Date | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = (t instanceof Date ? t : new Date(t)).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

export const creationMs = (pod: V1Pod): number | undefined => toMs(pod.metadata?.creationTimestamp);
export const deletionMs = (pod: V1Pod): number | undefined => toMs(pod.metadata?.deletionTimestamp);

/** When the pod failed: the container's finish time, else the Ready condition's last change. */
export function failedAtMs(pod: V1Pod): number | undefined {
  for (const cs of pod.status?.containerStatuses ?? []) {
    const t = toMs(cs.state?.terminated?.finishedAt);
    if (t !== undefined) return t;
  }
  const ready = (pod.status?.conditions ?? []).find((c) => c.type === "Ready");
  return toMs(ready?.lastTransitionTime) ?? toMs(pod.status?.startTime) ?? creationMs(pod);
}

/** A short reason for a failed pod: Evicted, OOMKilled, Error (exit 1), ... */
export function failureReason(pod: V1Pod): string {
  if (pod.status?.reason) return pod.status.reason;
  for (const cs of pod.status?.containerStatuses ?? []) {
    const t = cs.state?.terminated;
    if (t) return t.reason ? `${t.reason} (exit ${t.exitCode})` : `exit ${t.exitCode}`;
  }
  return "Failed";
}

/** The exit code of the pod's first terminated container, if any. */
export function exitCodeOf(pod: V1Pod): number | undefined {
  for (const cs of pod.status?.containerStatuses ?? []) {
    const t = cs.state?.terminated;
    if (t) return t.exitCode;
  }
  return undefined;
}

/** What the failed container said last (its termination message), if anything. */
export function terminationMessage(pod: V1Pod): string | undefined {
  for (const cs of pod.status?.containerStatuses ?? []) {
    const m = cs.state?.terminated?.message?.trim();
    if (m) return m;
  }
  return undefined;
}

/**
 * A pod the cluster took away rather than one whose program failed: evicted by the kubelet (node
 * pressure), preempted, or deleted through the eviction API or by the taint manager (the
 * DisruptionTarget condition, Kubernetes 1.26+). As a Job's podFailurePolicy can, these are
 * replaced without counting against restartPolicy.backoffLimit. OOMKilled is not one: the pod's
 * own memory use killed it.
 */
export function isDisruption(pod: V1Pod): boolean {
  if (pod.status?.reason === "Evicted" || pod.status?.reason === "Preempting") return true;
  return (pod.status?.conditions ?? []).some((c) => c.type === "DisruptionTarget" && c.status === "True");
}

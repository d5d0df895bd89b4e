// Pods grouped by the place they fill (the coordinator, or one trainer index), and what each place
// needs next: nothing, its first pod, a wait, or a replacement under the next attempt number.
// Failed pods stay in their slot (like a Job's) so the restart count can be read back from the
// cluster; the back-off before a replacement grows with the run's failures so far.
import type { V1Pod } from "@kubernetes/client-node";
import type { RunSpec } from "../../common/spec/index.js";
import { failedAtMs, failureReason, isFailed, isTerminating, podAttempt } from "./pod-state.js";

export interface Slot {
  /** Non-terminating pods, newest attempt last. */
  live: V1Pod[];
  terminating: V1Pod[];
  /** The highest attempt number seen in the slot, live or terminating; -1 for none. */
  maxAttempt: number;
}

/** Groups pods by `key` (pods it maps to undefined are left out). */
export function groupSlots(pods: V1Pod[], key: (p: V1Pod) => string | undefined): Map<string, Slot> {
  const m = new Map<string, Slot>();
  for (const p of pods) {
    const k = key(p);
    if (k === undefined) continue;
    const s = m.get(k) ?? { live: [], terminating: [], maxAttempt: -1 };
    (isTerminating(p) ? s.terminating : s.live).push(p);
    s.maxAttempt = Math.max(s.maxAttempt, podAttempt(p));
    m.set(k, s);
  }
  for (const s of m.values()) s.live.sort((a, b) => podAttempt(a) - podAttempt(b));
  return m;
}

export function backoffSeconds(spec: RunSpec, failuresBefore: number): number {
  const { initialBackoffSeconds: a, maxBackoffSeconds: m } = spec.restartPolicy;
  return Math.min(a * 2 ** Math.max(0, failuresBefore), m);
}

export interface SlotDecision {
  /** Create the slot's next pod with this attempt number. */
  createAttempt?: number;
  /** The slot's pod is gone or failed: the run is short of it until a replacement is up. */
  awaitingReplacement: boolean;
  /** A replacement the failed-pod count does not include (its predecessor was force-deleted). */
  extraRestart: boolean;
  /** The WorkerReplaced event's message, when a replacement is created. */
  replacedMessage?: string;
  /** The back-off is still running: plan again after this long. */
  wakeMs?: number;
}

export interface SlotContext {
  spec: RunSpec;
  /** Every failed pod of the run, oldest first: their count drives the back-off. */
  failedPods: V1Pod[];
  /** Pods this plan force-deletes (stuck Terminating past the grace period). */
  forceDeleted: ReadonlySet<string | undefined>;
  nowMs: number;
  /** Names the slot in event messages ("coordinator", "worker 2"). */
  label: string;
}

export function decideSlot(slot: Slot | undefined, c: SlotContext): SlotDecision {
  const latest = slot?.live.at(-1);
  if (!slot || (!latest && slot.terminating.length === 0)) {
    return { createAttempt: slot ? slot.maxAttempt + 1 : 0, awaitingReplacement: false, extraRestart: false };
  }
  if (!latest) {
    // Only terminating pods: wait for them, unless the grace period has run out.
    const forced = slot.terminating.some((p) => c.forceDeleted.has(p.metadata?.name));
    if (!forced) return { awaitingReplacement: true, extraRestart: false };
    return {
      createAttempt: slot.maxAttempt + 1,
      awaitingReplacement: true,
      extraRestart: true,
      replacedMessage: `${c.label}: pod stuck Terminating past the grace period; replaced under a new name`,
    };
  }
  if (!isFailed(latest)) return { awaitingReplacement: false, extraRestart: false };
  const failures = c.failedPods.length;
  const delayMs = backoffSeconds(c.spec, failures - 1) * 1000;
  const due = (failedAtMs(latest) ?? c.nowMs) + delayMs;
  if (c.nowMs < due) return { awaitingReplacement: true, extraRestart: false, wakeMs: due - c.nowMs };
  return {
    createAttempt: slot.maxAttempt + 1,
    awaitingReplacement: true,
    extraRestart: false,
    replacedMessage: `${c.label}: pod ${latest.metadata?.name} failed (${failureReason(latest)}); replaced after ${delayMs / 1000}s back-off (failure ${failures} of ${c.spec.restartPolicy.backoffLimit} allowed)`,
  };
}

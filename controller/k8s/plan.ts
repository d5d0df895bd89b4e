// The reconciler's brain: from the run, its parsed spec, the objects observed in the API server
// and the coordinator's progress, decide what to create, what to delete and what the status is.
// Pure and level-triggered: it keeps no memory between calls, so a restarted controller makes the
// same decisions. Failed pods are kept (like a Job's) so the restart count can be read back from
// the cluster; replacements get the next attempt number, which makes their creation idempotent.
import type { V1Pod } from "@kubernetes/client-node";
import type { RunPhase, RunSpec } from "../../common/spec/index.js";
import { EXIT_PERMANENT_FAILURE } from "../../common/trainer-env.js";
import { desiredCoordinatorPod, desiredTrainerPod, type PodTemplateOptions } from "./desired-pods.js";
import { defersScheduling, usesVolcano } from "./scheduler-handoff.js";
import { decideSlot, groupSlots, type Slot } from "./pod-slots.js";
import {
  deletionMs,
  exitCodeOf,
  failureReason,
  isDisruption,
  isFailed,
  isReady,
  isRunning,
  isSucceeded,
  isTerminating,
  podIndex,
  podRole,
  terminationMessage,
} from "./pod-state.js";
import { applyProgress, setCondition } from "./run-status.js";
import { scheduledCondition } from "./scheduled-condition.js";
import type { PodGroupObject, RunProgress, TrainingRunObject, TrainingRunStatus } from "./types.js";

export interface Observed {
  pods: V1Pod[];
  hasService: boolean;
  hasConfigMap: boolean;
  hasSecret: boolean;
  progress?: RunProgress;
  /** The run's Volcano PodGroup as last read (Volcano writes its status). */
  podGroup?: PodGroupObject;
  /** Why the PodGroup cannot exist (no Volcano CRD): trainer pods wait for it. */
  podGroupUnavailable?: string;
}

export interface PlanOptions extends PodTemplateOptions {
  /** A pod still Terminating this long after its deletion deadline is force-deleted and replaced. */
  terminatingGraceSeconds?: number;
}

export interface RunEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface PodDeletion {
  name: string;
  /** gracePeriodSeconds 0: the node is gone and will never confirm. */
  force: boolean;
  reason: string;
}

export interface Plan {
  createService: boolean;
  createConfigMap: boolean;
  createSecret: boolean;
  createPods: V1Pod[];
  deletePods: PodDeletion[];
  status: TrainingRunStatus;
  events: RunEvent[];
  /** Delete the TrainingRun itself (ttlSecondsAfterFinished elapsed). */
  deleteRun: boolean;
  /** Reconcile again after this long even if nothing changes (back-off, gang timeout, TTL). */
  requeueAfterMs?: number;
}

const TERMINAL: readonly RunPhase[] = ["Succeeded", "Failed"];
const PROGRESS_POLL_MS = 10_000;
const PODGROUP_RETRY_MS = 15_000;

export function planRun(
  run: TrainingRunObject,
  spec: RunSpec,
  observed: Observed,
  nowMs: number,
  opts: PlanOptions = {},
): Plan {
  const nowIso = new Date(nowMs).toISOString();
  const prev = run.status ?? {};
  const gen = run.metadata.generation;
  const plan: Plan = {
    createService: !observed.hasService,
    createConfigMap: !observed.hasConfigMap,
    createSecret: !observed.hasSecret,
    createPods: [],
    deletePods: [],
    status: { ...prev, conditions: [...(prev.conditions ?? [])], observedGeneration: gen },
    events: [],
    deleteRun: false,
  };
  const st = plan.status;
  const conds = st.conditions!;
  const wake: number[] = [];
  const graceMs = (opts.terminatingGraceSeconds ?? 120) * 1000;
  const prevPhase = prev.phase;

  const pods = observed.pods;
  const trainers = groupSlots(
    pods.filter((p) => podRole(p) === "trainer"),
    (p) => (podIndex(p) === undefined ? undefined : String(podIndex(p))),
  );
  const coord = groupSlots(
    pods.filter((p) => podRole(p) === "coordinator"),
    () => "c",
  ).get("c");
  const failedPods = pods.filter(isFailed);
  let restarts = Math.max(prev.restarts ?? 0, failedPods.length);

  // Stuck Terminating pods (lost node): force-delete once past the grace period.
  for (const p of pods) {
    if (!isTerminating(p)) continue;
    const deadline = (deletionMs(p) ?? nowMs) + graceMs;
    if (nowMs >= deadline) {
      plan.deletePods.push({ name: p.metadata!.name!, force: true, reason: "stuck Terminating" });
    } else wake.push(deadline - nowMs);
  }

  const finalize = (phase: RunPhase): Plan => {
    st.phase = phase;
    st.completionTime ??= nowIso;
    for (const p of pods) {
      if (!isTerminating(p) && !isFailed(p) && !isSucceeded(p)) {
        plan.deletePods.push({ name: p.metadata!.name!, force: false, reason: `run ${phase}` });
      }
    }
    plan.createService = plan.createConfigMap = plan.createSecret = false;
    const ttl = spec.ttlSecondsAfterFinished;
    if (ttl !== undefined) {
      const due = new Date(st.completionTime).getTime() + ttl * 1000;
      if (nowMs >= due) plan.deleteRun = true;
      else wake.push(due - nowMs);
    }
    return finish();
  };

  const finish = (): Plan => {
    st.restarts = restarts;
    applyProgress(st, observed.progress, nowMs);
    // Progress lives in NATS, which sends no watch events: poll it while the run trains.
    if (spec.nats.url && (st.phase === "Running" || st.phase === "Restarting")) wake.push(PROGRESS_POLL_MS);
    if (st.phase !== prevPhase && st.phase !== undefined) {
      plan.events.push({
        type: st.phase === "Failed" || st.phase === "Restarting" ? "Warning" : "Normal",
        reason: st.phase,
        message: st.message ?? `run is ${st.phase}`,
      });
    }
    const positive = wake.filter((w) => w > 0);
    if (positive.length) plan.requeueAfterMs = Math.min(...positive);
    return plan;
  };

  if (prevPhase && TERMINAL.includes(prevPhase)) return finalize(prevPhase);

  if (!plan.createService && !plan.createConfigMap && !plan.createSecret) {
    setCondition(conds, "Created", "True", "ObjectsCreated", "service, spec and token exist", nowIso, gen);
  } else if (!conds.some((c) => c.type === "Created")) {
    setCondition(conds, "Created", "False", "Creating", "creating service, spec and token", nowIso, gen);
  }

  // Terminal outcomes first: success reported by the coordinator, or failures past the limit.
  const coordLatest = coord?.live.at(-1);
  const liveTrainers = [...trainers.values()].flatMap((s) => s.live.slice(-1));
  const trainersDone = liveTrainers.length >= spec.replicas.min && liveTrainers.every((p) => isSucceeded(p));
  if ((coordLatest && isSucceeded(coordLatest)) || trainersDone) {
    st.message = "training completed";
    setCondition(conds, "Succeeded", "True", "Completed", "training completed", nowIso, gen);
    setCondition(conds, "Running", "False", "Completed", "training completed", nowIso, gen);
    setCondition(conds, "Restarting", "False", "Completed", "", nowIso, gen);
    return finalize("Succeeded");
  }
  const fail = (reason: string, message: string): Plan => {
    st.message = message;
    setCondition(conds, "Failed", "True", reason, message, nowIso, gen);
    setCondition(conds, "Running", "False", reason, message, nowIso, gen);
    setCondition(conds, "Restarting", "False", reason, "", nowIso, gen);
    return finalize("Failed");
  };
  // A trainer that exits with the permanent-failure code (a bad spec, data or model it cannot
  // use) would fail the same way on every restart: the run fails at once, with its reason.
  const permanent = failedPods.find((p) => exitCodeOf(p) === EXIT_PERMANENT_FAILURE);
  if (permanent) {
    const said = terminationMessage(permanent);
    return fail(
      "PermanentFailure",
      `pod ${permanent.metadata?.name} exited with code ${EXIT_PERMANENT_FAILURE}, a failure no restart can fix` +
        (said ? `: ${said}` : "; its log says why"),
    );
  }
  // Evictions and preemptions are the cluster's doing: replaced, not counted.
  const counted = failedPods.filter((p) => !isDisruption(p));
  if (counted.length > spec.restartPolicy.backoffLimit) {
    const last = counted[counted.length - 1];
    return fail(
      "BackoffLimitExceeded",
      `pod ${last.metadata?.name} failed (${failureReason(last)}); ${counted.length} failures exceed restartPolicy.backoffLimit=${spec.restartPolicy.backoffLimit}` +
        (counted.length < failedPods.length
          ? ` (${failedPods.length - counted.length} evictions not counted)`
          : ""),
    );
  }
  // A Job's activeDeadlineSeconds: the run may be active this long from its creation.
  const created = run.metadata.creationTimestamp ? Date.parse(String(run.metadata.creationTimestamp)) : NaN;
  if (spec.activeDeadlineSeconds !== undefined && Number.isFinite(created)) {
    const due = created + spec.activeDeadlineSeconds * 1000;
    if (nowMs >= due)
      return fail(
        "DeadlineExceeded",
        `the run was active longer than activeDeadlineSeconds=${spec.activeDeadlineSeconds}`,
      );
    wake.push(due - nowMs);
  }

  st.replicasDesired = spec.replicas.max;
  if (spec.suspend) {
    for (const p of pods) {
      if (!isTerminating(p) && !isFailed(p) && !isSucceeded(p)) {
        plan.deletePods.push({ name: p.metadata!.name!, force: false, reason: "run suspended" });
      }
    }
    st.phase = "Suspended";
    st.message = "suspended; pods stopped after a final checkpoint";
    st.replicasReady = 0;
    st.replicasReadyText = `0/${spec.replicas.max}`;
    setCondition(conds, "Running", "False", "Suspended", st.message, nowIso, gen);
    return finish();
  }

  // Replace or create pods slot by slot: the coordinator, then one trainer per replica index.
  let awaitingReplacement = false;
  const forceDeleted = new Set(plan.deletePods.map((d) => d.name));
  const ensure = (slot: Slot | undefined, make: (attempt: number) => V1Pod, label: string): void => {
    const d = decideSlot(slot, { spec, failedPods, forceDeleted, nowMs, label });
    if (d.awaitingReplacement) awaitingReplacement = true;
    if (d.extraRestart) restarts += 1;
    if (d.createAttempt !== undefined) plan.createPods.push(make(d.createAttempt));
    if (d.replacedMessage !== undefined)
      plan.events.push({ type: "Warning", reason: "WorkerReplaced", message: d.replacedMessage });
    if (d.wakeMs !== undefined) wake.push(d.wakeMs);
  };
  ensure(coord, (a) => desiredCoordinatorPod(run, spec, a, opts), "coordinator");
  for (let i = 0; i < spec.replicas.max; i++) {
    ensure(trainers.get(String(i)), (a) => desiredTrainerPod(run, spec, i, a, opts), `worker ${i}`);
  }
  // No PodGroup, no trainers: Volcano would hold them forever, or another scheduler would place
  // them without the gang. The run waits (and says why) until the CRD appears.
  const podGroupMissing = usesVolcano(spec) && observed.podGroupUnavailable !== undefined;
  if (podGroupMissing) {
    plan.createPods = plan.createPods.filter((p) => podRole(p) !== "trainer");
    plan.events = plan.events.filter(
      (e) => e.reason !== "WorkerReplaced" || e.message.startsWith("coordinator"),
    );
    wake.push(PODGROUP_RETRY_MS);
  }
  // Replica count lowered: stop the surplus workers.
  for (const [k, s] of trainers) {
    if (Number(k) < spec.replicas.max) continue;
    for (const p of s.live) {
      if (!isFailed(p) && !isSucceeded(p))
        plan.deletePods.push({ name: p.metadata!.name!, force: false, reason: "replicas.max lowered" });
    }
  }

  // Gang scheduling: min replicas placed, or Unschedulable after the timeout.
  const current = [...trainers.values()].map((s) => s.live.at(-1)).filter((p): p is V1Pod => !!p);
  const ready = current.filter(isReady).length;
  st.replicasReady = ready;
  st.replicasReadyText = `${ready}/${spec.replicas.max}`;
  const sched = scheduledCondition(
    spec,
    {
      trainers: current,
      podGroupMissing: podGroupMissing ? observed.podGroupUnavailable : undefined,
      defersToQueue: defersScheduling(spec),
      podGroup: observed.podGroup,
    },
    nowMs,
  );
  setCondition(conds, "Scheduled", sched.status, sched.reason, sched.message, nowIso, gen);
  if (sched.wakeMs !== undefined) wake.push(sched.wakeMs);
  const unschedulable = sched.unschedulable;
  if (
    sched.reason === "PodGroupUnavailable" &&
    !prev.conditions?.some((c) => c.type === "Scheduled" && c.reason === "PodGroupUnavailable")
  ) {
    plan.events.push({ type: "Warning", reason: "PodGroupUnavailable", message: sched.message });
  }

  const coordUp = coordLatest !== undefined && isRunning(coordLatest);
  const wasStarted = prev.startTime !== undefined;
  if (coordUp && ready >= spec.replicas.min && !awaitingReplacement) {
    st.phase = "Running";
    st.startTime ??= nowIso;
    st.message = `${ready} workers ready`;
    setCondition(conds, "Running", "True", "WorkersReady", st.message, nowIso, gen);
    setCondition(conds, "Restarting", "False", "WorkersReady", "", nowIso, gen);
  } else if (wasStarted && (awaitingReplacement || ready < spec.replicas.min)) {
    st.phase = "Restarting";
    st.message = awaitingReplacement
      ? `replacing lost workers (${restarts} restarts); survivors re-rendezvous from the last checkpoint`
      : `${ready} of min ${spec.replicas.min} workers ready`;
    setCondition(conds, "Restarting", "True", "WorkerLost", st.message, nowIso, gen);
    setCondition(conds, "Running", "False", "WorkerLost", st.message, nowIso, gen);
  } else {
    st.phase = "Pending";
    st.message =
      unschedulable || podGroupMissing
        ? conds.find((c) => c.type === "Scheduled")?.message
        : `${ready} of min ${spec.replicas.min} workers ready`;
    if (prevPhase === "Suspended")
      setCondition(conds, "Running", "False", "Resuming", "resuming from the last checkpoint", nowIso, gen);
  }
  if (
    unschedulable &&
    !prev.conditions?.some((c) => c.type === "Scheduled" && c.reason === "Unschedulable")
  ) {
    plan.events.push({ type: "Warning", reason: "Unschedulable", message: st.message ?? "unschedulable" });
  }
  if (plan.createPods.length > 0 && prevPhase === undefined) {
    plan.events.push({
      type: "Normal",
      reason: "Created",
      message: `created coordinator and ${spec.replicas.max} workers`,
    });
  }
  return finish();
}

// The reconciler's brain: from the run, its parsed spec, the objects observed in the API server
// and the coordinator's progress, decide what to create, what to delete and what the status is.
// Pure and level-triggered: it keeps no memory between calls, so a restarted controller makes the
// same decisions. Failed pods are kept (like a Job's) so the restart count can be read back from
// the cluster; replacements get the next attempt number, which makes their creation idempotent.
import type { V1Pod } from "@kubernetes/client-node";
import type { RunPhase, RunSpec } from "../../common/spec/index.js";
import { desiredCoordinatorPod, desiredTrainerPod, type PodTemplateOptions } from "./desired-pods.js";
import { defersScheduling, kueueQueue, usesVolcano } from "./scheduler-handoff.js";
import {
  creationMs,
  deletionMs,
  failedAtMs,
  failureReason,
  isFailed,
  isReady,
  isRunning,
  isScheduled,
  isSucceeded,
  isTerminating,
  podAttempt,
  podIndex,
  podRole,
  unschedulableMessage,
} from "./pod-state.js";
import type {
  ConditionStatus,
  ConditionType,
  PodGroupObject,
  RunCondition,
  RunProgress,
  TrainingRunObject,
  TrainingRunStatus,
} from "./types.js";

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

/** Where an external queue stands, for the Scheduled condition's message. */
function queueState(spec: RunSpec, pg: PodGroupObject | undefined): string {
  const kueue = kueueQueue(spec);
  if (kueue) return `admission deferred to Kueue queue ${kueue}`;
  const q = spec.scheduling.queueName ? ` queue ${spec.scheduling.queueName}` : "";
  let msg = `admission deferred to Volcano${q}`;
  if (pg?.status?.phase) msg += `; PodGroup ${pg.status.phase}`;
  const why = pg?.status?.conditions?.find((c) => c.type === "Unschedulable" && c.status === "True");
  if (why?.message) msg += `: ${why.message}`;
  return msg;
}

export function backoffSeconds(spec: RunSpec, failuresBefore: number): number {
  const { initialBackoffSeconds: a, maxBackoffSeconds: m } = spec.restartPolicy;
  return Math.min(a * 2 ** Math.max(0, failuresBefore), m);
}

interface Slot {
  /** Non-terminating pods, newest attempt last. */
  live: V1Pod[];
  terminating: V1Pod[];
  maxAttempt: number;
}

function slots(pods: V1Pod[], key: (p: V1Pod) => string | undefined): Map<string, Slot> {
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

function setCondition(
  list: RunCondition[],
  type: ConditionType,
  status: ConditionStatus,
  reason: string,
  message: string,
  nowIso: string,
  observedGeneration: number | undefined,
): void {
  const i = list.findIndex((c) => c.type === type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: RunCondition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime:
      prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : nowIso,
    observedGeneration,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

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
  const trainers = slots(
    pods.filter((p) => podRole(p) === "trainer"),
    (p) => (podIndex(p) === undefined ? undefined : String(podIndex(p))),
  );
  const coord = slots(
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
  if (failedPods.length > spec.restartPolicy.backoffLimit) {
    const last = failedPods[failedPods.length - 1];
    st.message = `pod ${last.metadata?.name} failed (${failureReason(last)}); ${failedPods.length} failures exceed restartPolicy.backoffLimit=${spec.restartPolicy.backoffLimit}`;
    setCondition(conds, "Failed", "True", "BackoffLimitExceeded", st.message, nowIso, gen);
    setCondition(conds, "Running", "False", "BackoffLimitExceeded", st.message, nowIso, gen);
    setCondition(conds, "Restarting", "False", "BackoffLimitExceeded", "", nowIso, gen);
    return finalize("Failed");
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
  const ensure = (slot: Slot | undefined, make: (attempt: number) => V1Pod, label: string): void => {
    const latest = slot?.live.at(-1);
    if (!slot || (!latest && slot.terminating.length === 0)) {
      plan.createPods.push(make(slot ? slot.maxAttempt + 1 : 0));
      return;
    }
    if (!latest) {
      // Only terminating pods: wait for them, unless the grace period has run out.
      awaitingReplacement = true;
      const forced = slot.terminating.some((p) => plan.deletePods.some((d) => d.name === p.metadata?.name));
      if (forced) {
        restarts += 1;
        plan.createPods.push(make(slot.maxAttempt + 1));
        plan.events.push({
          type: "Warning",
          reason: "WorkerReplaced",
          message: `${label}: pod stuck Terminating past the grace period; replaced under a new name`,
        });
      }
      return;
    }
    if (!isFailed(latest)) return;
    awaitingReplacement = true;
    const failures = failedPods.length;
    const delayMs = backoffSeconds(spec, failures - 1) * 1000;
    const due = (failedAtMs(latest) ?? nowMs) + delayMs;
    if (nowMs < due) {
      wake.push(due - nowMs);
      return;
    }
    plan.createPods.push(make(slot.maxAttempt + 1));
    plan.events.push({
      type: "Warning",
      reason: "WorkerReplaced",
      message: `${label}: pod ${latest.metadata?.name} failed (${failureReason(latest)}); replaced after ${delayMs / 1000}s back-off (failure ${failures} of ${spec.restartPolicy.backoffLimit} allowed)`,
    });
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
  const scheduled = current.filter(isScheduled).length;
  const ready = current.filter(isReady).length;
  st.replicasReady = ready;
  st.replicasReadyText = `${ready}/${spec.replicas.max}`;
  let unschedulable = false;
  if (scheduled >= spec.replicas.min) {
    setCondition(
      conds,
      "Scheduled",
      "True",
      "GangScheduled",
      `${scheduled} of ${spec.replicas.max} workers scheduled (min ${spec.replicas.min})`,
      nowIso,
      gen,
    );
  } else if (podGroupMissing) {
    setCondition(
      conds,
      "Scheduled",
      "False",
      "PodGroupUnavailable",
      observed.podGroupUnavailable!,
      nowIso,
      gen,
    );
    if (!prev.conditions?.some((c) => c.type === "Scheduled" && c.reason === "PodGroupUnavailable")) {
      plan.events.push({
        type: "Warning",
        reason: "PodGroupUnavailable",
        message: observed.podGroupUnavailable!,
      });
    }
  } else if (defersScheduling(spec)) {
    // The queue decides when the gang starts; our own gang timeout does not apply.
    setCondition(
      conds,
      "Scheduled",
      "False",
      "WaitingForQueue",
      queueState(spec, observed.podGroup),
      nowIso,
      gen,
    );
  } else {
    const waiting = current.filter((p) => !isScheduled(p));
    const since = Math.min(...waiting.map((p) => creationMs(p) ?? nowMs), nowMs);
    const due = since + spec.scheduling.gangTimeoutSeconds * 1000;
    if (waiting.length > 0 && nowMs >= due) {
      unschedulable = true;
      const why = waiting.map(unschedulableMessage).find((m) => m !== undefined) ?? "pods not scheduled";
      const msg = `${scheduled} of min ${spec.replicas.min} workers scheduled after ${spec.scheduling.gangTimeoutSeconds}s: ${why}`;
      setCondition(conds, "Scheduled", "False", "Unschedulable", msg, nowIso, gen);
    } else {
      if (waiting.length > 0) wake.push(due - nowMs);
      setCondition(
        conds,
        "Scheduled",
        "False",
        "Waiting",
        `${scheduled} of min ${spec.replicas.min} workers scheduled`,
        nowIso,
        gen,
      );
    }
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

function applyProgress(st: TrainingRunStatus, p: RunProgress | undefined, nowMs: number): void {
  if (!p) return;
  st.step = p.step;
  st.totalSteps = p.totalSteps;
  if (p.totalSteps > 0) {
    const frac = Math.min(1, p.step / p.totalSteps);
    st.progress = `${Math.floor(frac * 100)}%`;
    const started = st.startTime ? new Date(st.startTime).getTime() : undefined;
    if (p.step >= p.totalSteps) st.eta = "0s";
    else if (started !== undefined && p.step > 0 && nowMs > started) {
      st.eta = formatDuration((((nowMs - started) / p.step) * (p.totalSteps - p.step)) / 1000);
    }
  }
  if (p.loss !== undefined && Number.isFinite(p.loss)) st.loss = p.loss.toFixed(4);
  else if (p.loss !== undefined) st.loss = String(p.loss);
  if (p.generation !== undefined) st.generation = p.generation;
  if (p.worldSize !== undefined) st.worldSize = p.worldSize;
  if (p.restarts !== undefined) st.restarts = Math.max(st.restarts ?? 0, p.restarts);
  if (p.lastCheckpoint) st.lastCheckpoint = { ...p.lastCheckpoint };
  if (p.evaluation) st.evaluation = { ...p.evaluation };
}

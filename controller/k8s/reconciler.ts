// One reconcile of one TrainingRun: read the run and what it owns, plan, act, write status.
// Idempotent: names are deterministic, creates tolerate AlreadyExists, deletes tolerate NotFound,
// and the status write uses the run's resourceVersion, so a stale view fails instead of
// overwriting (the next reconcile starts from fresh reads).
import { randomBytes } from "node:crypto";
import type { CoreV1Event } from "@kubernetes/client-node";
import type { Logger } from "../../common/log.js";
import { parseRunSpec, runNameIssue, SpecError, type RunSpec } from "../../common/spec/index.js";
import { desiredConfigMap, desiredPodGroup, desiredSecret, desiredService } from "./run-objects.js";
import { usesVolcano } from "./scheduler-handoff.js";
import { withDefaultNats, withRunQueueLabel } from "./spec-defaults.js";
import type { ControllerMetrics } from "./controller-metrics.js";
import { describeError, isNotFound, type KubeApi } from "./kube-api.js";
import {
  configMapName,
  podGroupName,
  runSelector,
  secretName,
  serviceName,
  FIELD_MANAGER,
} from "./labels.js";
import { planRun, type PlanOptions, type RunEvent } from "./plan.js";
import type { ProgressReader } from "./progress-reader.js";
import type { PodGroupObject, TrainingRunObject, TrainingRunStatus } from "./types.js";

export interface ReconcilerDeps {
  api: KubeApi;
  progress: ProgressReader;
  log: Logger;
  metrics?: ControllerMetrics;
  plan?: PlanOptions;
  /** Identifies this controller replica on Events. */
  instance?: string;
  now?: () => number;
  /** NATS for runs whose spec names none (the chart's nats.url). */
  defaultNatsUrl?: string;
}

export interface ReconcileResult {
  /** Reconcile again after this many ms (0/undefined: only on the next watch event). */
  requeueAfterMs?: number;
}

/** A merge patch taking `cur` to `want` (fields radfleet sets), or undefined when they agree. */
export function podGroupPatch(
  cur: PodGroupObject["spec"] | undefined,
  want: PodGroupObject["spec"],
): Record<string, unknown> | undefined {
  const res = { ...want.minResources };
  const same =
    cur?.minMember === want.minMember &&
    cur.queue === want.queue &&
    cur.priorityClassName === want.priorityClassName &&
    Object.keys({ ...cur.minResources, ...res }).every((k) => cur.minResources?.[k] === res[k]);
  if (same) return undefined;
  const minResources: Record<string, string | null> = { ...res };
  for (const k of Object.keys(cur?.minResources ?? {})) if (!(k in res)) minResources[k] = null;
  return {
    spec: {
      minMember: want.minMember,
      minResources,
      queue: want.queue ?? null,
      priorityClassName: want.priorityClassName ?? null,
    },
  };
}

function sameStatus(a: TrainingRunStatus | undefined, b: TrainingRunStatus): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b);
}

export function eventFor(
  run: TrainingRunObject,
  ev: RunEvent,
  nowIso: string,
  instance: string,
): CoreV1Event {
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { generateName: `${run.metadata.name}.`, namespace: run.metadata.namespace },
    involvedObject: {
      apiVersion: run.apiVersion,
      kind: run.kind,
      name: run.metadata.name,
      namespace: run.metadata.namespace,
      uid: run.metadata.uid,
      resourceVersion: run.metadata.resourceVersion,
    },
    type: ev.type,
    reason: ev.reason,
    message: ev.message.slice(0, 1000),
    source: { component: FIELD_MANAGER },
    reportingComponent: FIELD_MANAGER,
    reportingInstance: instance,
    firstTimestamp: new Date(nowIso),
    lastTimestamp: new Date(nowIso),
    count: 1,
  };
}

export class Reconciler {
  private readonly now: () => number;
  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  async reconcile(namespace: string, name: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { api, log } = this.deps;
    const key = `${namespace}/${name}`;
    const run = await api.getRun(namespace, name);
    if (!run || run.metadata.deletionTimestamp) {
      // Owned objects go with it through their owner references (garbage collector).
      this.deps.metrics?.setRunPhase(key, undefined);
      return {};
    }
    // A name the Service and labels cannot carry would fail every create with a 422; say why once.
    const nameIssue = runNameIssue(name);
    if (nameIssue) {
      await this.failInvalid(run, `metadata.name: ${nameIssue}`);
      return {};
    }
    let spec: RunSpec;
    try {
      spec = withDefaultNats(
        withRunQueueLabel(run, parseRunSpec(run.spec ?? {}).spec),
        this.deps.defaultNatsUrl,
      );
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      await this.failInvalid(run, err.message);
      return {};
    }
    // Volcano's PodGroup goes first: Volcano must see the gang before any of its pods.
    const terminal = run.status?.phase === "Succeeded" || run.status?.phase === "Failed";
    const volcano = usesVolcano(spec) && !terminal ? await this.ensurePodGroup(run, spec) : undefined;
    const [pods, svc, cm, secret] = await Promise.all([
      api.listPods(namespace, runSelector(name)),
      api.getService(namespace, serviceName(name)),
      api.getConfigMap(namespace, configMapName(name)),
      api.getSecret(namespace, secretName(name)),
    ]);
    const owned = pods.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === run.metadata.uid));
    const progress = await this.deps.progress.read({ namespace, name }, spec, signal);
    const nowMs = this.now();
    const plan = planRun(
      run,
      spec,
      {
        pods: owned,
        hasService: !!svc,
        hasConfigMap: !!cm,
        hasSecret: !!secret,
        progress,
        podGroup: volcano?.podGroup,
        podGroupUnavailable: volcano?.unavailable,
      },
      nowMs,
      this.deps.plan,
    );

    if (plan.createService) await api.createService(desiredService(run));
    const wantCm = desiredConfigMap(run, spec);
    if (plan.createConfigMap) await api.createConfigMap(wantCm);
    else if (cm && JSON.stringify(cm.data ?? {}) !== JSON.stringify(wantCm.data)) {
      await api.replaceConfigMap({
        ...wantCm,
        metadata: { ...wantCm.metadata, resourceVersion: cm.metadata?.resourceVersion },
      });
    }
    if (plan.createSecret) await api.createSecret(desiredSecret(run, randomBytes(24).toString("base64url")));
    await Promise.all(plan.deletePods.map((d) => api.deletePod(namespace, d.name, d.force ? 0 : undefined)));
    await Promise.all(plan.createPods.map((p) => api.createPod(p)));

    const before = run.status?.restarts ?? 0;
    if (!sameStatus(run.status, plan.status)) {
      // A 409 here means someone wrote the run since we read it: the caller retries from fresh reads.
      await api.replaceRunStatus({ ...run, status: plan.status });
      this.deps.metrics?.addPodRestarts((plan.status.restarts ?? 0) - before);
    }
    const nowIso = new Date(nowMs).toISOString();
    for (const ev of plan.events) {
      log.info("run_event", { run: key, type: ev.type, reason: ev.reason, message: ev.message });
      await api
        .createEvent(eventFor(run, ev, nowIso, this.deps.instance ?? FIELD_MANAGER))
        .catch((err: unknown) => log.warn("event_failed", { run: key, error: describeError(err) }));
    }
    this.deps.metrics?.setRunPhase(key, plan.status.phase);
    if (plan.deleteRun) {
      log.info("run_ttl_expired", { run: key });
      await api.deleteRun(namespace, name);
      this.deps.metrics?.setRunPhase(key, undefined);
      return {};
    }
    return { requeueAfterMs: plan.requeueAfterMs };
  }

  /** Creates or corrects the run's PodGroup; `unavailable` when Volcano's API is not served. */
  private async ensurePodGroup(
    run: TrainingRunObject,
    spec: RunSpec,
  ): Promise<{ podGroup?: PodGroupObject; unavailable?: string }> {
    const { api } = this.deps;
    const { namespace } = run.metadata;
    const want = desiredPodGroup(run, spec);
    try {
      const cur = await api.getPodGroup(namespace, podGroupName(run.metadata.name));
      if (!cur) {
        await api.createPodGroup(want);
        return { podGroup: want };
      }
      const patch = podGroupPatch(cur.spec, want.spec);
      if (patch) await api.patchPodGroup(namespace, cur.metadata.name, patch);
      return { podGroup: cur };
    } catch (err) {
      // Get and create both 404 when no PodGroup CRD is installed.
      if (!isNotFound(err)) throw err;
      return {
        unavailable:
          "PodGroup API scheduling.volcano.sh/v1beta1 is not served: install Volcano, or unset spec.scheduling.schedulerName",
      };
    }
  }

  private async failInvalid(run: TrainingRunObject, message: string): Promise<void> {
    const status: TrainingRunStatus = {
      ...run.status,
      phase: "Failed",
      message: `invalid spec: ${message}`,
      conditions: [
        {
          type: "Failed",
          status: "True",
          reason: "InvalidSpec",
          message: `invalid spec: ${message}`.slice(0, 1000),
          lastTransitionTime:
            run.status?.conditions?.find((c) => c.type === "Failed")?.lastTransitionTime ??
            new Date(this.now()).toISOString(),
          observedGeneration: run.metadata.generation,
        },
      ],
    };
    if (sameStatus(run.status, status)) return;
    await this.deps.api.replaceRunStatus({ ...run, status });
    const ev = { type: "Warning" as const, reason: "InvalidSpec", message: status.message! };
    await this.deps.api
      .createEvent(eventFor(run, ev, new Date(this.now()).toISOString(), this.deps.instance ?? FIELD_MANAGER))
      .catch(() => {});
    this.deps.metrics?.setRunPhase(`${run.metadata.namespace}/${run.metadata.name}`, "Failed");
  }
}

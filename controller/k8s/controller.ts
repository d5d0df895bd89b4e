// The controller process: leader election, then watches on TrainingRuns and their pods feeding a
// work queue, a periodic full resync, and a few workers running the reconciler. Everything it
// knows comes from the API server and NATS, so a restart loses nothing.
import { hostname } from "node:os";
import type { Logger } from "../../common/log.js";
import type { ControllerMetrics } from "./controller-metrics.js";
import { describeError, isConflict, type KubeApi } from "./kube-api.js";
import { LABEL_MANAGED_BY, LABEL_RUN, MANAGER } from "./labels.js";
import { leaderElector } from "./leader-election.js";
import type { PlanOptions } from "./plan.js";
import type { ProgressReader } from "./progress-reader.js";
import { Reconciler } from "./reconciler.js";
import { reflect } from "./reflector.js";
import { WorkQueue } from "./work-queue.js";

export interface ControllerOptions {
  api: KubeApi;
  progress: ProgressReader;
  log: Logger;
  metrics?: ControllerMetrics;
  /** Watch one namespace; all namespaces when unset. */
  namespace?: string;
  workers?: number;
  resyncSeconds?: number;
  leaderElection?:
    { namespace: string; name?: string; leaseDurationSeconds?: number; retryPeriodMs?: number } | false;
  identity?: string;
  plan?: PlanOptions;
  /** Server-side watch timeout (default 300 s, jittered). */
  watchTimeoutSeconds?: number;
  /** NATS for runs whose spec names none (their pods, the coordinator's events, progress). */
  defaultNatsUrl?: string;
}

export interface RunningController {
  /** Resolves when the controller stopped: aborted, or leadership lost (then `lostLeadership`). */
  done: Promise<{ lostLeadership: boolean }>;
  stop(): Promise<void>;
}

interface Meta {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    generation?: number;
    deletionTimestamp?: string;
  };
}

export async function startController(o: ControllerOptions, signal: AbortSignal): Promise<RunningController> {
  const identity = o.identity ?? `${hostname()}-${process.pid}`;
  const log = o.log.child({ identity });
  const stopCtl = new AbortController();
  const stopSignal = AbortSignal.any([signal, stopCtl.signal]);
  const queue = new WorkQueue();
  const reconciler = new Reconciler({
    api: o.api,
    progress: o.progress,
    log,
    metrics: o.metrics,
    plan: o.plan,
    instance: identity,
    defaultNatsUrl: o.defaultNatsUrl,
  });

  const elector = o.leaderElection
    ? leaderElector(o.api, {
        namespace: o.leaderElection.namespace,
        name: o.leaderElection.name ?? "radfleet-controller",
        identity,
        leaseDurationSeconds: o.leaderElection.leaseDurationSeconds,
        retryPeriodMs: o.leaderElection.retryPeriodMs,
        log,
      })
    : undefined;
  let lostLeadership = false;

  const run = async (): Promise<void> => {
    if (elector) {
      await elector.acquire(stopSignal);
      elector.lost.addEventListener("abort", () => {
        lostLeadership = true;
        stopCtl.abort();
      });
    }
    const watchOpts = { watchTimeoutSeconds: o.watchTimeoutSeconds };
    const watches = [
      reflect(
        o.api,
        { resource: "trainingruns", namespace: o.namespace },
        (type, obj) => {
          const m = (obj as Meta).metadata;
          if (!m?.name || !m.namespace) return;
          // Our own status writes come back as MODIFIED events; acting on them would loop. Spec
          // changes bump metadata.generation; the rest is caught by pod events, timers, resync.
          const observed = (obj as { status?: { observedGeneration?: number } }).status?.observedGeneration;
          if (type === "MODIFIED" && !m.deletionTimestamp && m.generation === observed) return;
          queue.add(`${m.namespace}/${m.name}`);
        },
        stopSignal,
        log,
        watchOpts,
      ),
      reflect(
        o.api,
        { resource: "pods", namespace: o.namespace, labelSelector: `${LABEL_MANAGED_BY}=${MANAGER}` },
        (_type, obj) => {
          const m = (obj as Meta).metadata;
          const runName = m?.labels?.[LABEL_RUN];
          if (runName && m?.namespace) queue.add(`${m.namespace}/${runName}`);
        },
        stopSignal,
        log,
        watchOpts,
      ),
    ];
    const resync = async () => {
      try {
        for (const r of await o.api.listRuns(o.namespace))
          queue.add(`${r.metadata.namespace}/${r.metadata.name}`);
      } catch (err) {
        log.warn("resync_failed", { error: describeError(err) });
      }
    };
    await resync();
    const timer = setInterval(() => void resync(), (o.resyncSeconds ?? 30) * 1000);
    const failures = new Map<string, number>();
    const worker = async () => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        const [ns, name] = key.split("/");
        const t0 = performance.now();
        try {
          const res = await reconciler.reconcile(ns, name, stopSignal);
          o.metrics?.observeReconcile((performance.now() - t0) / 1000, true);
          failures.delete(key);
          if (res.requeueAfterMs) queue.addAfter(key, res.requeueAfterMs);
        } catch (err) {
          const n = (failures.get(key) ?? 0) + 1;
          failures.set(key, n);
          if (!isConflict(err)) {
            o.metrics?.observeReconcile((performance.now() - t0) / 1000, false);
            log.warn("reconcile_failed", { run: key, attempt: n, error: describeError(err) });
          }
          queue.addAfter(key, Math.min(50 * 2 ** Math.min(n, 10), 30_000));
        } finally {
          queue.done(key);
        }
      }
    };
    stopSignal.addEventListener("abort", () => queue.close(), { once: true });
    log.info("controller_started", { namespace: o.namespace ?? "(all)", workers: o.workers ?? 4 });
    await Promise.all([...Array.from({ length: o.workers ?? 4 }, worker), ...watches]);
    clearInterval(timer);
  };

  const done = run()
    .catch((err: unknown) => {
      if (!stopSignal.aborted) log.error("controller_failed", { error: describeError(err) });
    })
    .then(async () => {
      if (elector) await elector.release();
      log.info("controller_stopped", { lostLeadership });
      return { lostLeadership };
    });
  return {
    done,
    async stop() {
      stopCtl.abort();
      await done;
    },
  };
}

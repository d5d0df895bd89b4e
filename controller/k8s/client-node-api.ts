// KubeApi over @kubernetes/client-node 1.x (typed API clients, its Watch), the default transport.
// The 2.x line needs Node >= 22 (undici 8), which is why kube-transport.ts loads this file lazily
// and why the package is pinned to ^1.4.0 while radfleet runs on Node 20.
import https from "node:https";
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  Watch,
  createConfiguration,
  setHeaderOptions,
  type Middleware,
  type RequestContext,
} from "@kubernetes/client-node";
import { CRD_GROUP, CRD_PLURAL, CRD_VERSION } from "../../common/spec/index.js";
import {
  KubeApiError,
  PODGROUP_PLURAL,
  VOLCANO_GROUP,
  VOLCANO_VERSION,
  ignoreStatus,
  orUndefined,
  watchPath,
  type KubeApi,
  type ListResult,
  type WatchEvent,
} from "./kube-api.js";
import { FIELD_MANAGER } from "./labels.js";
import type { PodGroupObject, TrainingRunObject } from "./types.js";

export interface ClientNodeOptions {
  /** Per-request timeout (not for watches, which the server ends after timeoutSeconds). */
  timeoutMs?: number;
  maxSockets?: number;
}

/**
 * client-node 1.x builds a fresh https.Agent for every request (a TLS handshake each time) and
 * sets no timeout. This middleware gives each request a deadline and reuses one keep-alive agent
 * per set of TLS credentials.
 */
function transportMiddleware(timeoutMs: number, maxSockets: number): Middleware {
  const agents = new Map<string, https.Agent>();
  const shared = (req: RequestContext): void => {
    const a = req.getAgent();
    // Proxy agents (hpagent, socks) are subclasses: leave them as they are.
    if (!(a instanceof https.Agent) || a.constructor !== https.Agent) return;
    const o = a.options;
    const key = [o.ca, o.cert, o.key, o.rejectUnauthorized, o.servername].map(String).join("\u0000");
    let agent = agents.get(key);
    if (!agent) {
      agent = new https.Agent({ ...o, keepAlive: true, maxSockets });
      agents.set(key, agent);
    }
    req.setAgent(agent);
  };
  return {
    pre: async (req) => {
      if (!req.getSignal()) req.setSignal(AbortSignal.timeout(timeoutMs));
      // The API server names the field manager after the user agent ("node-fetch" otherwise).
      req.setHeaderParam("User-Agent", FIELD_MANAGER);
      shared(req);
      return req;
    },
    post: async (res) => res,
  };
}

export function clientNodeApi(kubeconfigPath?: string, opts: ClientNodeOptions = {}): KubeApi {
  const kc = new KubeConfig();
  // loadFromDefault: $KUBECONFIG, ~/.kube/config, else the in-cluster service account (whose
  // projected token client-node re-reads as it rotates).
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${kubeconfigPath ?? "(default)"}: no current cluster`);
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [transportMiddleware(opts.timeoutMs ?? 30_000, opts.maxSockets ?? 32)],
  });
  const core = new CoreV1Api(config);
  const custom = new CustomObjectsApi(config);
  const coord = new CoordinationV1Api(config);
  const watcher = new Watch(kc);
  const crd = { group: CRD_GROUP, version: CRD_VERSION, plural: CRD_PLURAL };
  const podGroups = { group: VOLCANO_GROUP, version: VOLCANO_VERSION, plural: PODGROUP_PLURAL };
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

  const listOf = (res: { items: unknown[]; metadata?: { resourceVersion?: string } }): ListResult => ({
    items: res.items,
    resourceVersion: res.metadata?.resourceVersion ?? "",
  });

  return {
    async listRuns(namespace) {
      const res = (
        namespace
          ? await custom.listNamespacedCustomObject({ ...crd, namespace })
          : await custom.listClusterCustomObject(crd)
      ) as { items: TrainingRunObject[] };
      return res.items;
    },
    getRun: (namespace, name) =>
      orUndefined(
        custom.getNamespacedCustomObject({ ...crd, namespace, name }) as Promise<TrainingRunObject>,
      ),
    async replaceRunStatus(run) {
      // PUT on the status subresource: the body's resourceVersion makes a stale write a 409.
      return (await custom.replaceNamespacedCustomObjectStatus({
        ...crd,
        namespace: run.metadata.namespace,
        name: run.metadata.name,
        body: run,
      })) as TrainingRunObject;
    },
    deleteRun: (namespace, name) =>
      ignoreStatus(
        custom.deleteNamespacedCustomObject({ ...crd, namespace, name, propagationPolicy: "Background" }),
        404,
      ),
    async listPods(namespace, labelSelector) {
      return (await core.listNamespacedPod({ namespace, labelSelector })).items;
    },
    createPod: (pod) =>
      ignoreStatus(core.createNamespacedPod({ namespace: pod.metadata!.namespace!, body: pod }), 409),
    deletePod: (namespace, name, gracePeriodSeconds) =>
      ignoreStatus(core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds }), 404),
    getService: (namespace, name) => orUndefined(core.readNamespacedService({ namespace, name })),
    createService: (svc) =>
      ignoreStatus(core.createNamespacedService({ namespace: svc.metadata!.namespace!, body: svc }), 409),
    getConfigMap: (namespace, name) => orUndefined(core.readNamespacedConfigMap({ namespace, name })),
    createConfigMap: (cm) =>
      ignoreStatus(core.createNamespacedConfigMap({ namespace: cm.metadata!.namespace!, body: cm }), 409),
    async replaceConfigMap(cm) {
      await core.replaceNamespacedConfigMap({
        namespace: cm.metadata!.namespace!,
        name: cm.metadata!.name!,
        body: cm,
      });
    },
    getSecret: (namespace, name) => orUndefined(core.readNamespacedSecret({ namespace, name })),
    createSecret: (s) =>
      ignoreStatus(core.createNamespacedSecret({ namespace: s.metadata!.namespace!, body: s }), 409),
    async createEvent(ev) {
      await core.createNamespacedEvent({ namespace: ev.metadata.namespace!, body: ev });
    },
    getLease: (namespace, name) => orUndefined(coord.readNamespacedLease({ namespace, name })),
    createLease: (lease) =>
      coord.createNamespacedLease({ namespace: lease.metadata!.namespace!, body: lease }),
    replaceLease: (lease) =>
      coord.replaceNamespacedLease({
        namespace: lease.metadata!.namespace!,
        name: lease.metadata!.name!,
        body: lease,
      }),
    getPodGroup: (namespace, name) =>
      orUndefined(
        custom.getNamespacedCustomObject({ ...podGroups, namespace, name }) as Promise<PodGroupObject>,
      ),
    createPodGroup: (pg) =>
      ignoreStatus(
        custom.createNamespacedCustomObject({ ...podGroups, namespace: pg.metadata.namespace, body: pg }),
        409,
      ),
    async patchPodGroup(namespace, name, patch) {
      await custom.patchNamespacedCustomObject({ ...podGroups, namespace, name, body: patch }, mergePatch);
    },
    async list(t) {
      if (t.resource === "pods") {
        const q = { labelSelector: t.labelSelector };
        return listOf(
          t.namespace
            ? await core.listNamespacedPod({ ...q, namespace: t.namespace })
            : await core.listPodForAllNamespaces(q),
        );
      }
      const q = { ...crd, labelSelector: t.labelSelector };
      return listOf(
        (t.namespace
          ? await custom.listNamespacedCustomObject({ ...q, namespace: t.namespace })
          : await custom.listClusterCustomObject(q)) as { items: unknown[] },
      );
    },
    async watch(t, o, onEvent, done) {
      let finished = false;
      // The Watch's AbortController arrives only when the response has started.
      const handle: { ctl?: AbortController } = {};
      const end = (err: unknown) => {
        if (finished) return;
        finished = true;
        handle.ctl?.abort();
        done(err);
      };
      const query: Record<string, string> = { allowWatchBookmarks: "true" };
      if (t.labelSelector) query.labelSelector = t.labelSelector;
      if (o.resourceVersion) query.resourceVersion = o.resourceVersion;
      if (o.timeoutSeconds) query.timeoutSeconds = String(o.timeoutSeconds);
      const ctl = await watcher.watch(
        watchPath(t),
        query,
        (type: string, obj: unknown) => {
          if (finished) return;
          if (type === "ERROR") {
            // A Status in the stream, typically 410 Gone: the resourceVersion was compacted away.
            const st = (obj ?? {}) as { code?: number; message?: string };
            end(new KubeApiError(st.code ?? 500, `watch ${watchPath(t)}: ${st.message ?? "error"}`, obj));
            return;
          }
          onEvent(type as WatchEvent, obj);
        },
        (err: unknown) => end(err),
      );
      handle.ctl = ctl;
      if (finished) ctl.abort();
      return ctl;
    },
  };
}

// KubeApi over plain HTTPS (node:https): the alternative to client-node (`--transport rest`), for
// when client-node cannot load (its 2.x line needs Node >= 22) or to rule it out when debugging.
// The API server's REST interface is small for what the controller needs: JSON in and out, and
// watches as a stream of newline-delimited JSON events.
import https from "node:https";
import type { IncomingMessage } from "node:http";
import type {
  CoreV1Event,
  V1ConfigMap,
  V1Lease,
  V1PodList,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import { CRD_GROUP, CRD_PLURAL, CRD_VERSION } from "../../common/spec/index.js";
import {
  ignoreStatus,
  KubeApiError,
  orUndefined,
  PODGROUP_PLURAL,
  VOLCANO_GROUP,
  VOLCANO_VERSION,
  watchPath,
  type KubeApi,
  type WatchEvent,
} from "./kube-api.js";
import type { KubeConnection } from "./kubeconfig.js";
import type { PodGroupObject, TrainingRunObject } from "./types.js";

export interface RestOptions {
  /** Per-request timeout (not for watches). */
  timeoutMs?: number;
  maxSockets?: number;
}

export function restKubeApi(conn: KubeConnection, opts: RestOptions = {}): KubeApi {
  const base = new URL(conn.server);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: opts.maxSockets ?? 32,
    ca: conn.ca,
    cert: conn.cert,
    key: conn.key,
    rejectUnauthorized: !conn.insecureSkipTlsVerify,
  });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const headers = (): Record<string, string> => {
    const h: Record<string, string> = { accept: "application/json", "user-agent": "radfleet-controller" };
    const t = typeof conn.token === "function" ? conn.token() : conn.token;
    if (t) h.authorization = `Bearer ${t}`;
    return h;
  };
  const url = (path: string, query?: Record<string, string | number | undefined>) => {
    const u = new URL(base.pathname.replace(/\/$/, "") + path, base);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  };

  const send = (
    method: string,
    u: URL,
    body: unknown,
    signal?: AbortSignal,
    contentType = "application/json",
  ) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(u, {
        method,
        agent,
        headers: {
          ...headers(),
          ...(payload ? { "content-type": contentType, "content-length": String(payload.length) } : {}),
        },
        signal,
      });
      req.on("response", resolve);
      req.on("error", reject);
      req.end(payload);
    });

  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    query?: Record<string, string | number | undefined>,
    contentType?: string,
  ): Promise<T> {
    const signal = AbortSignal.timeout(timeoutMs);
    const u = url(path, query);
    let res: IncomingMessage;
    try {
      res = await send(method, u, body, signal, contentType);
    } catch (err) {
      throw new Error(`${method} ${u.pathname}: ${(err as Error).message} (API server ${conn.server})`, {
        cause: err,
      });
    }
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const code = res.statusCode ?? 0;
    if (code >= 300) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        /* not JSON: keep the text */
      }
      throw new KubeApiError(code, `${method} ${u.pathname}: HTTP ${code}: ${message}`, text);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  const crdPath = (ns?: string, name?: string, sub?: string) =>
    `/apis/${CRD_GROUP}/${CRD_VERSION}${ns ? `/namespaces/${ns}` : ""}/${CRD_PLURAL}${name ? `/${name}` : ""}${sub ? `/${sub}` : ""}`;
  const core = (ns: string, kind: string, name?: string) =>
    `/api/v1/namespaces/${ns}/${kind}${name ? `/${name}` : ""}`;
  const lease = (ns: string, name?: string) =>
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases${name ? `/${name}` : ""}`;
  const podGroup = (ns: string, name?: string) =>
    `/apis/${VOLCANO_GROUP}/${VOLCANO_VERSION}/namespaces/${ns}/${PODGROUP_PLURAL}${name ? `/${name}` : ""}`;

  return {
    async listRuns(namespace) {
      return (await call<{ items: TrainingRunObject[] }>("GET", crdPath(namespace))).items;
    },
    getRun: (ns, name) => orUndefined(call<TrainingRunObject>("GET", crdPath(ns, name))),
    replaceRunStatus: (run) =>
      call<TrainingRunObject>("PUT", crdPath(run.metadata.namespace, run.metadata.name, "status"), run),
    deleteRun: (ns, name) =>
      ignoreStatus(call("DELETE", crdPath(ns, name), { propagationPolicy: "Background" }), 404),
    async listPods(ns, labelSelector) {
      return (await call<V1PodList>("GET", core(ns, "pods"), undefined, { labelSelector })).items;
    },
    createPod: (pod) => ignoreStatus(call("POST", core(pod.metadata!.namespace!, "pods"), pod), 409),
    deletePod: (ns, name, gracePeriodSeconds) =>
      ignoreStatus(
        call(
          "DELETE",
          core(ns, "pods", name),
          gracePeriodSeconds === undefined ? undefined : { gracePeriodSeconds },
        ),
        404,
      ),
    getService: (ns, name) => orUndefined(call<V1Service>("GET", core(ns, "services", name))),
    createService: (s) => ignoreStatus(call("POST", core(s.metadata!.namespace!, "services"), s), 409),
    getConfigMap: (ns, name) => orUndefined(call<V1ConfigMap>("GET", core(ns, "configmaps", name))),
    createConfigMap: (cm) => ignoreStatus(call("POST", core(cm.metadata!.namespace!, "configmaps"), cm), 409),
    async replaceConfigMap(cm) {
      await call("PUT", core(cm.metadata!.namespace!, "configmaps", cm.metadata!.name!), cm);
    },
    getSecret: (ns, name) => orUndefined(call<V1Secret>("GET", core(ns, "secrets", name))),
    createSecret: (s) => ignoreStatus(call("POST", core(s.metadata!.namespace!, "secrets"), s), 409),
    async createEvent(ev: CoreV1Event) {
      await call("POST", core(ev.metadata.namespace!, "events"), ev);
    },
    getLease: (ns, name) => orUndefined(call<V1Lease>("GET", lease(ns, name))),
    createLease: (l) => call<V1Lease>("POST", lease(l.metadata!.namespace!), l),
    replaceLease: (l) => call<V1Lease>("PUT", lease(l.metadata!.namespace!, l.metadata!.name!), l),
    getPodGroup: (ns, name) => orUndefined(call<PodGroupObject>("GET", podGroup(ns, name))),
    createPodGroup: (pg) => ignoreStatus(call("POST", podGroup(pg.metadata.namespace), pg), 409),
    async patchPodGroup(ns, name, patch) {
      await call("PATCH", podGroup(ns, name), patch, undefined, "application/merge-patch+json");
    },
    async list(t) {
      const res = await call<{ items: unknown[]; metadata?: { resourceVersion?: string } }>(
        "GET",
        watchPath(t),
        undefined,
        { labelSelector: t.labelSelector },
      );
      return { items: res.items, resourceVersion: res.metadata?.resourceVersion ?? "" };
    },
    async watch(t, o, onEvent, done) {
      const ctl = new AbortController();
      const u = url(watchPath(t), {
        watch: "true",
        allowWatchBookmarks: "true",
        labelSelector: t.labelSelector,
        resourceVersion: o.resourceVersion,
        timeoutSeconds: o.timeoutSeconds,
      });
      let finished = false;
      const end = (err: unknown) => {
        if (finished) return;
        finished = true;
        ctl.abort();
        done(err);
      };
      send("GET", u, undefined, ctl.signal).then(
        (res) => {
          if ((res.statusCode ?? 0) >= 300) {
            res.resume();
            end(new KubeApiError(res.statusCode ?? 0, `watch ${u.pathname}: HTTP ${res.statusCode}`, ""));
            return;
          }
          let buf = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buf += chunk;
            let nl: number;
            while (!finished && (nl = buf.indexOf("\n")) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              let ev: { type: WatchEvent; object: unknown };
              try {
                ev = JSON.parse(line) as { type: WatchEvent; object: unknown };
              } catch {
                continue; // not a JSON event line: skip it
              }
              if (ev.type === "ERROR") {
                // A Status in the stream, typically 410 Gone: the resourceVersion is too old.
                const st = (ev.object ?? {}) as { code?: number; message?: string };
                end(
                  new KubeApiError(
                    st.code ?? 500,
                    `watch ${u.pathname}: ${st.message ?? "error"}`,
                    ev.object,
                  ),
                );
                return;
              }
              onEvent(ev.type, ev.object);
            }
          });
          res.on("end", () => end(null));
          res.on("error", (err) => end(ctl.signal.aborted ? null : err));
          res.on("close", () => end(null));
        },
        (err: unknown) => end(ctl.signal.aborted ? null : err),
      );
      return ctl;
    },
  };
}

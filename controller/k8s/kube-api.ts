// The slice of the Kubernetes API the controller uses. Everything the reconciler does to the
// cluster goes through here, with typed results and typed errors. Two transports implement it:
// @kubernetes/client-node (client-node-api.ts, the default) and a small HTTPS client
// (rest-kube-api.ts). Only types are imported here, so this file loads whichever is chosen.
import type { CoreV1Event, V1ConfigMap, V1Lease, V1Pod, V1Secret, V1Service } from "@kubernetes/client-node";
import { CRD_GROUP, CRD_PLURAL, CRD_VERSION } from "../../common/spec/index.js";
import type { PodGroupObject, TrainingRunObject } from "./types.js";

/** An HTTP error from the API server, whichever transport produced it. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

function statusCode(err: unknown): number | undefined {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "number") {
    // KubeApiError (REST transport) or client-node's ApiException: both carry the HTTP status.
    if (err instanceof KubeApiError || (err instanceof Error && err.name !== "SystemError")) return err.code;
  }
  // client-node's Watch rejects a non-200 watch with `statusCode`.
  if (err instanceof Error && "statusCode" in err && typeof err.statusCode === "number")
    return err.statusCode;
  return undefined;
}

export const isStatus = (err: unknown, code: number): boolean => statusCode(err) === code;
export const isNotFound = (err: unknown): boolean => isStatus(err, 404);
export const isConflict = (err: unknown): boolean => isStatus(err, 409);

/** Shortens client-node errors (which embed whole response bodies) to what failed and why. */
export function describeError(err: unknown): string {
  const code = statusCode(err);
  if (code !== undefined) {
    const body = (err as { body?: unknown }).body;
    let msg = "";
    if (typeof body === "string") {
      try {
        msg = (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        msg = body;
      }
    } else if (body && typeof body === "object" && "message" in body) msg = String(body.message);
    return `HTTP ${code}: ${msg.slice(0, 300)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export type WatchEvent = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** A collection the controller lists and watches. */
export interface WatchTarget {
  resource: "trainingruns" | "pods";
  /** One namespace; all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
}

export interface WatchOptions {
  /** Resume after this version (from a list or the last event); unset: start from "now". */
  resourceVersion?: string;
  /** The server ends the watch after this long (jittered by the caller). */
  timeoutSeconds?: number;
}

/** A list's items and the collection's resourceVersion, where a watch picks up without a gap. */
export interface ListResult {
  items: unknown[];
  resourceVersion: string;
}

export function watchPath(t: WatchTarget): string {
  const ns = t.namespace ? `/namespaces/${t.namespace}` : "";
  return t.resource === "pods" ? `/api/v1${ns}/pods` : `/apis/${CRD_GROUP}/${CRD_VERSION}${ns}/${CRD_PLURAL}`;
}

export const VOLCANO_GROUP = "scheduling.volcano.sh";
export const VOLCANO_VERSION = "v1beta1";
export const PODGROUP_PLURAL = "podgroups";

export interface KubeApi {
  listRuns(namespace: string | undefined): Promise<TrainingRunObject[]>;
  getRun(namespace: string, name: string): Promise<TrainingRunObject | undefined>;
  replaceRunStatus(run: TrainingRunObject): Promise<TrainingRunObject>;
  deleteRun(namespace: string, name: string): Promise<void>;
  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  createPod(pod: V1Pod): Promise<void>;
  deletePod(namespace: string, name: string, gracePeriodSeconds?: number): Promise<void>;
  getService(namespace: string, name: string): Promise<V1Service | undefined>;
  createService(svc: V1Service): Promise<void>;
  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  createConfigMap(cm: V1ConfigMap): Promise<void>;
  replaceConfigMap(cm: V1ConfigMap): Promise<void>;
  getSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  createSecret(s: V1Secret): Promise<void>;
  createEvent(ev: CoreV1Event): Promise<void>;
  getLease(namespace: string, name: string): Promise<V1Lease | undefined>;
  createLease(lease: V1Lease): Promise<V1Lease>;
  replaceLease(lease: V1Lease): Promise<V1Lease>;
  /** Volcano's PodGroup (scheduling.volcano.sh/v1beta1); a 404 from create means no Volcano CRD. */
  getPodGroup(namespace: string, name: string): Promise<PodGroupObject | undefined>;
  createPodGroup(pg: PodGroupObject): Promise<void>;
  /** JSON merge patch (RFC 7386) of a PodGroup. */
  patchPodGroup(namespace: string, name: string, patch: Record<string, unknown>): Promise<void>;
  list(target: WatchTarget): Promise<ListResult>;
  /**
   * Streams watch events (bookmarks requested) until aborted or the server closes; `done` gets
   * the reason: null for a clean close, a KubeApiError-like error with code 410 when the
   * resourceVersion is too old (the caller re-lists).
   */
  watch(
    target: WatchTarget,
    opts: WatchOptions,
    onEvent: (type: WatchEvent, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

export async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function ignoreStatus(p: Promise<unknown>, code: number): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isStatus(err, code)) throw err;
  }
}

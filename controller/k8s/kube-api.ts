// The slice of the Kubernetes API the controller uses, over @kubernetes/client-node. Everything
// the reconciler does to the cluster goes through here, with typed results and typed errors.
// Only types come from @kubernetes/client-node here: its 2.x runtime needs Node >= 22 (undici 8),
// so the transport is chosen at startup (see kube-transport.ts) and this file loads on Node 20.
import type { CoreV1Event, V1ConfigMap, V1Lease, V1Pod, V1Secret, V1Service } from "@kubernetes/client-node";
import type { TrainingRunObject } from "./types.js";

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
  /** Streams watch events until aborted or the server closes; `done` gets the reason. */
  watch(
    path: string,
    query: Record<string, string>,
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

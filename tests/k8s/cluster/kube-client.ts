// A small generic API client for the tests: create/get/patch/delete any object by path, with the
// admin client certificate from the test kubeconfig. (The controller has its own KubeApi.)
import https from "node:https";
import { loadKubeConnection } from "../../../controller/k8s/index.js";

export interface RawResponse {
  status: number;
  body: string;
}

export interface KubeClient {
  raw(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    accept?: string,
  ): Promise<RawResponse>;
  /** JSON request; throws with the server's message on HTTP >= 300. */
  json<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<T>;
  /** Creates the object at the path its apiVersion/kind/namespace imply. */
  create<T = Record<string, unknown>>(obj: Record<string, unknown>): Promise<T>;
  mergePatch<T = Record<string, unknown>>(path: string, patch: unknown): Promise<T>;
}

const PLURALS: Record<string, string> = {
  Namespace: "namespaces",
  Node: "nodes",
  Pod: "pods",
  Service: "services",
  ConfigMap: "configmaps",
  Secret: "secrets",
  ServiceAccount: "serviceaccounts",
  TrainingRun: "trainingruns",
  CustomResourceDefinition: "customresourcedefinitions",
};

export function objectPath(
  obj: { apiVersion?: unknown; kind?: unknown; metadata?: { namespace?: string; name?: string } },
  withName = false,
): string {
  const api = String(obj.apiVersion);
  const kind = String(obj.kind);
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`;
  const prefix = api.includes("/") ? `/apis/${api}` : `/api/${api}`;
  const ns = obj.metadata?.namespace ? `/namespaces/${obj.metadata.namespace}` : "";
  return `${prefix}${ns}/${plural}${withName ? `/${obj.metadata?.name}` : ""}`;
}

export function kubeClient(kubeconfig: string): KubeClient {
  const conn = loadKubeConnection(kubeconfig);
  const agent = new https.Agent({ keepAlive: true, ca: conn.ca, cert: conn.cert, key: conn.key });
  const raw: KubeClient["raw"] = (
    method,
    path,
    body,
    contentType = "application/json",
    accept = "application/json",
  ) =>
    new Promise((resolve, reject) => {
      const payload =
        body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
      const req = https.request(new URL(path, conn.server), {
        method,
        agent,
        headers: { accept, ...(payload ? { "content-type": contentType } : {}) },
        signal: AbortSignal.timeout(30_000),
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });
  const json = async <T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> => {
    const r = await raw(method, path, body, contentType);
    if (r.status >= 300)
      throw Object.assign(new Error(`${method} ${path}: HTTP ${r.status}: ${r.body.slice(0, 500)}`), {
        status: r.status,
      });
    return JSON.parse(r.body) as T;
  };
  return {
    raw,
    json,
    create: (obj) => json("POST", objectPath(obj as never), obj),
    mergePatch: (path, patch) => json("PATCH", path, patch, "application/merge-patch+json"),
  };
}

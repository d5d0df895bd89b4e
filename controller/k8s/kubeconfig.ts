// Where and how to reach the API server: a kubeconfig file (client certificate or bearer token)
// or, inside a pod, the service account. Validated once here; the transports get plain values.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import YAML from "yaml";

export interface KubeConnection {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Bearer token, or a function re-reading a rotated service-account token. */
  token?: string | (() => string);
  insecureSkipTlsVerify?: boolean;
  /** Namespace of the current context (or the pod's), for defaults. */
  namespace?: string;
  source: string;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

type Named<T> = { name: string } & T;
interface KubeconfigFile {
  "current-context"?: string;
  contexts?: Named<{ context: { cluster: string; user: string; namespace?: string } }>[];
  clusters?: Named<{
    cluster: {
      server: string;
      "certificate-authority"?: string;
      "certificate-authority-data"?: string;
      "insecure-skip-tls-verify"?: boolean;
    };
  }>[];
  users?: Named<{
    user: {
      "client-certificate"?: string;
      "client-certificate-data"?: string;
      "client-key"?: string;
      "client-key-data"?: string;
      token?: string;
    };
  }>[];
}

function fail(source: string, what: string): never {
  throw new Error(`kubeconfig ${source}: ${what}`);
}

export function loadKubeConnection(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConnection {
  if (!path && env.KUBERNETES_SERVICE_HOST && !env.KUBECONFIG) {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? "443";
    let cached = { at: 0, token: "" };
    return {
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      ca: readFileSync(join(SA_DIR, "ca.crt")),
      token: () => {
        // Projected tokens rotate; re-read at most once a minute.
        if (Date.now() - cached.at > 60_000)
          cached = { at: Date.now(), token: readFileSync(join(SA_DIR, "token"), "utf8").trim() };
        return cached.token;
      },
      namespace: readFileSync(join(SA_DIR, "namespace"), "utf8").trim(),
      source: "in-cluster service account",
    };
  }
  const file = path ?? env.KUBECONFIG?.split(":")[0] ?? join(homedir(), ".kube", "config");
  let doc: KubeconfigFile;
  try {
    doc = YAML.parse(readFileSync(file, "utf8")) as KubeconfigFile;
  } catch (err) {
    fail(file, `cannot read: ${(err as Error).message}; pass --kubeconfig PATH or run in a pod`);
  }
  const ctxName = doc["current-context"] ?? doc.contexts?.[0]?.name;
  const ctx =
    doc.contexts?.find((c) => c.name === ctxName)?.context ?? fail(file, `context ${ctxName} not found`);
  const cluster =
    doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster ??
    fail(file, `cluster ${ctx.cluster} not found`);
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? fail(file, `user ${ctx.user} not found`);
  if (!cluster.server) fail(file, `cluster ${ctx.cluster} has no server`);
  const rel = (p: string) => (isAbsolute(p) ? p : join(dirname(file), p));
  const blob = (data?: string, p?: string): Buffer | undefined =>
    data ? Buffer.from(data, "base64") : p ? readFileSync(rel(p)) : undefined;
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ca: blob(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert: blob(user["client-certificate-data"], user["client-certificate"]),
    key: blob(user["client-key-data"], user["client-key"]),
    token: user.token,
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] ?? false,
    namespace: ctx.namespace,
    source: file,
  };
}

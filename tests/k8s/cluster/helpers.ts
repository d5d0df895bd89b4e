// Shared helpers for cluster tests: controller child processes and polling with a deadline.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "./control-plane.js";
import { podGroupCrd } from "./fixtures.js";
import type { KubeClient } from "./kube-client.js";

const MAIN = fileURLToPath(new URL("./controller-main.ts", import.meta.url));

export interface ControllerProc {
  proc: ChildProcess;
  identity: string;
  metricsPort: number;
  /** Everything the process logged so far (JSON lines on stderr). */
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startControllerProc(
  kubeconfig: string,
  identity: string,
  extra: string[] = [],
): Promise<ControllerProc> {
  const metricsPort = await freePort();
  const proc = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      MAIN,
      "--kubeconfig",
      kubeconfig,
      "--metrics-port",
      String(metricsPort),
      "--identity",
      identity,
      "--lease-namespace",
      "default",
      "--lease-duration",
      "3",
      "--resync",
      "5",
      "--terminating-grace",
      "5",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return {
    proc,
    identity,
    metricsPort,
    logs: () => out,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Polls `get` until `ok` holds; on timeout fails with the last value seen. */
export async function eventually<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await get();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > until) {
      throw new Error(
        `${what}: not reached in ${timeoutMs / 1000}s; last value ${JSON.stringify(last)?.slice(0, 1500)} ${lastErr ? String(lastErr) : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface PodLite {
  name: string;
  phase?: string;
  owner?: string;
  deleting: boolean;
  labels: Record<string, string>;
}

export async function listRunPods(kube: KubeClient, ns: string, run: string): Promise<PodLite[]> {
  const list = await kube.json<{
    items: Array<{
      metadata: {
        name: string;
        labels?: Record<string, string>;
        deletionTimestamp?: string;
        ownerReferences?: Array<{ kind: string; name: string }>;
      };
      status?: { phase?: string };
    }>;
  }>("GET", `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`radfleet.io/run=${run}`)}`);
  return list.items.map((p) => ({
    name: p.metadata.name,
    phase: p.status?.phase,
    owner: p.metadata.ownerReferences?.[0]
      ? `${p.metadata.ownerReferences[0].kind}/${p.metadata.ownerReferences[0].name}`
      : undefined,
    deleting: !!p.metadata.deletionTimestamp,
    labels: p.metadata.labels ?? {},
  }));
}

export interface RunLite {
  metadata: { name: string; uid: string; resourceVersion: string };
  status?: {
    phase?: string;
    restarts?: number;
    replicasReadyText?: string;
    message?: string;
    step?: number;
    progress?: string;
    eta?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

export const getRun = (kube: KubeClient, ns: string, name: string) =>
  kube.json<RunLite>("GET", `/apis/radfleet.io/v1alpha1/namespaces/${ns}/trainingruns/${name}`);

/** Installs the minimal Volcano PodGroup CRD (once per control plane) and waits until it is served. */
export async function installPodGroupCrd(kube: KubeClient): Promise<void> {
  const r = await kube.raw("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", podGroupCrd);
  if (r.status !== 201 && r.status !== 409) throw new Error(`PodGroup CRD: HTTP ${r.status}: ${r.body}`);
  await eventually(
    "PodGroup API served",
    () => kube.raw("GET", "/apis/scheduling.volcano.sh/v1beta1"),
    (x) => x.status === 200 && x.body.includes("podgroups"),
  );
}

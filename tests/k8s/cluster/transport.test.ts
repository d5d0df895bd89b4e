// Both KubeApi transports against the real API server, below the controller: list + watch from
// the list's resourceVersion, 410 Gone on a compacted version and the re-list that follows, the
// status subresource with optimistic concurrency, merge patches, events, and Lease MicroTimes.
import { afterAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../../common/log.js";
import {
  connectKubeApi,
  isConflict,
  isStatus,
  reflect,
  type KubeApi,
  type TrainingRunObject,
} from "../../../controller/k8s/index.js";
import { microTime } from "../../../controller/k8s/leader-election.js";
import { kubeClient } from "./kube-client.js";
import { namespace, trainingRun } from "./fixtures.js";
import { eventually } from "./helpers.js";

const kubeconfig = inject("kubeconfig");
const kube = kubeClient(kubeconfig);
const stops: AbortController[] = [];
afterAll(() => {
  for (const s of stops) s.abort();
});

function capture() {
  const lines: string[] = [];
  const log = createLogger({ sink: { write: (l) => lines.push(l) }, level: "debug" });
  return { log, lines };
}

/** Compacts etcd's history up to its current revision, through etcd's JSON gateway. */
async function compactEtcd(): Promise<void> {
  const etcd = inject("etcdUrl");
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${etcd}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!r.ok) throw new Error(`etcd ${path}: HTTP ${r.status}: ${await r.text()}`);
    return (await r.json()) as { header: { revision: string } };
  };
  const { header } = await post("/v3/kv/range", { key: Buffer.from("/").toString("base64") });
  await post("/v3/kv/compaction", { revision: header.revision, physical: true });
}

const plainPod = (ns: string, name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, labels: { "app.kubernetes.io/managed-by": "radfleet-controller" } },
  spec: { containers: [{ name: "c", image: "busybox" }], nodeName: "no-such-node" },
});

describe.each(["client-node", "rest"] as const)("KubeApi over %s", (transport) => {
  const ns = `transport-${transport}`;
  let api: KubeApi;

  it("lists, then watches from the list's resourceVersion without a gap", async () => {
    await kube.create(namespace(ns));
    api = await connectKubeApi(kubeconfig, transport, capture().log);
    await kube.create(plainPod(ns, "before"));
    const seen: string[] = [];
    const stop = new AbortController();
    stops.push(stop);
    const { log } = capture();
    void reflect(
      api,
      { resource: "pods", namespace: ns, labelSelector: "app.kubernetes.io/managed-by=radfleet-controller" },
      (type, obj) => seen.push(`${type} ${(obj as { metadata: { name: string } }).metadata.name}`),
      stop.signal,
      log,
    );
    await eventually(
      "listed",
      async () => seen,
      (s) => s.includes("LISTED before"),
    );
    await kube.create(plainPod(ns, "after"));
    await eventually(
      "watched",
      async () => seen,
      (s) => s.includes("ADDED after"),
    );
    // Each object once from the list, then only changes: no replay of "before" as ADDED.
    expect(seen.filter((x) => x.endsWith(" before"))).toEqual(["LISTED before"]);
    stop.abort();
  });

  it("answers a compacted resourceVersion with 410 Gone, and the reflector re-lists", async () => {
    // Compact etcd up to now (what the API server does every 5 minutes): version 1 is gone.
    await compactEtcd();
    const gone = await new Promise<unknown>((resolve) => {
      const t = setTimeout(() => resolve(new Error("no answer in 10 s")), 10_000);
      void api
        .watch(
          { resource: "pods", namespace: ns },
          { resourceVersion: "1" },
          () => {},
          (err) => {
            clearTimeout(t);
            resolve(err);
          },
        )
        .then((c) => setTimeout(() => c.abort(), 10_000));
    });
    expect(isStatus(gone, 410), String(gone)).toBe(true);

    const seen: string[] = [];
    const stop = new AbortController();
    stops.push(stop);
    const { log, lines } = capture();
    void reflect(
      api,
      { resource: "pods", namespace: ns },
      (type, obj) => seen.push(`${type} ${(obj as { metadata: { name: string } }).metadata.name}`),
      stop.signal,
      log,
      { initialResourceVersion: "1" },
    );
    await eventually(
      "re-listed after 410",
      async () => seen,
      (s) => s.includes("LISTED before") && s.includes("LISTED after"),
    );
    expect(lines.join("")).toContain('"watch_expired"');
    await kube.create(plainPod(ns, "later"));
    await eventually(
      "watching again",
      async () => seen,
      (s) => s.includes("ADDED later"),
    );
    stop.abort();
  });

  it("writes status through the subresource, refusing a stale resourceVersion", async () => {
    await kube.create(trainingRun("st", ns));
    const run = (await api.getRun(ns, "st"))!;
    const next = await api.replaceRunStatus({ ...run, status: { phase: "Pending", message: transport } });
    expect(next.status).toMatchObject({ phase: "Pending", message: transport });
    // The spec is not touched by a status write.
    expect((next.spec as { replicas: unknown }).replicas).toEqual({ min: 2, max: 2 });
    const stale = await api
      .replaceRunStatus({ ...run, status: { phase: "Running" } } as TrainingRunObject)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(isConflict(stale)).toBe(true);
  });

  it("creates events and holds a Lease with MicroTime stamps", async () => {
    await api.createEvent({
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: "st.", namespace: ns },
      involvedObject: { apiVersion: "radfleet.io/v1alpha1", kind: "TrainingRun", name: "st", namespace: ns },
      type: "Normal",
      reason: "TransportTest",
      message: transport,
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      count: 1,
    });
    const events = await kube.json<{ items: Array<{ reason: string }> }>(
      "GET",
      `/api/v1/namespaces/${ns}/events`,
    );
    expect(events.items.map((e) => e.reason)).toContain("TransportTest");

    const now = microTime(new Date());
    const lease = await api.createLease({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l", namespace: ns },
      spec: { holderIdentity: "a", leaseDurationSeconds: 5, acquireTime: now, renewTime: now },
    });
    const raw = await kube.json<{ spec: { renewTime: string } }>(
      "GET",
      `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/l`,
    );
    expect(raw.spec.renewTime).toMatch(/\.\d{6}Z$/);
    // Read back (client-node: as Dates) and written again, as a renewal does.
    const cur = (await api.getLease(ns, "l"))!;
    const renewed = await api.replaceLease({
      ...cur,
      spec: { ...cur.spec, renewTime: microTime(new Date()), acquireTime: microTime(cur.spec!.acquireTime!) },
    });
    expect(renewed.metadata!.resourceVersion).not.toBe(lease.metadata!.resourceVersion);
  });
});

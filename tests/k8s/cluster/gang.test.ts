// Deferring gang scheduling to Volcano or Kueue, against the real API server. Neither scheduler
// runs here: the Volcano test installs only a minimal PodGroup CRD and plays Volcano's part by
// writing the PodGroup's status; the Kueue test plays Kueue's part by flipping spec.suspend. What
// is checked is what the controller writes and that it does not apply its own gang timeout.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { kubeClient } from "./kube-client.js";
import { namespace, trainingRun } from "./fixtures.js";
import {
  eventually,
  getRun,
  installPodGroupCrd,
  listRunPods,
  startControllerProc,
  type ControllerProc,
} from "./helpers.js";

const kube = kubeClient(inject("kubeconfig"));
let ctl: ControllerProc;
beforeAll(async () => {
  ctl = await startControllerProc(inject("kubeconfig"), "ctl-gang");
});
afterAll(async () => {
  await ctl?.stop();
});

const runsPath = (ns: string) => `/apis/radfleet.io/v1alpha1/namespaces/${ns}/trainingruns`;
const pgPath = (ns: string, name = "") =>
  `/apis/scheduling.volcano.sh/v1beta1/namespaces/${ns}/podgroups${name ? `/${name}` : ""}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freshNamespace(name: string): Promise<string> {
  await kube.create(namespace(name));
  await eventually(
    `serviceaccount default in ${name}`,
    () => kube.raw("GET", `/api/v1/namespaces/${name}/serviceaccounts/default`),
    (r) => r.status === 200,
  );
  return name;
}

interface PodFull {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { schedulerName?: string; nodeName?: string };
}
const getPod = (ns: string, name: string) =>
  kube.json<PodFull>("GET", `/api/v1/namespaces/${ns}/pods/${name}`);

describe("gang scheduling deferred to Volcano", () => {
  it("waits for the PodGroup API, then owns a PodGroup and hands the trainers to Volcano without its own timeout", async () => {
    const ns = await freshNamespace("volcano");
    await kube.json("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", {
      apiVersion: "scheduling.k8s.io/v1",
      kind: "PriorityClass",
      metadata: { name: "radfleet-test-training" },
      value: 1000,
    });
    await kube.create(
      trainingRun("v1", ns, {
        replicas: { min: 2, max: 3 },
        resources: { gpusPerWorker: 2, cpu: "1500m", memory: "1Gi" },
        scheduling: {
          schedulerName: "volcano",
          queueName: "research",
          priorityClassName: "radfleet-test-training",
        },
      }),
    );
    // No Volcano CRD yet: the run says why, and no trainer is created outside a gang.
    const waiting = await eventually(
      "PodGroupUnavailable",
      () => getRun(kube, ns, "v1"),
      (r) =>
        !!r.status?.conditions?.some((c) => c.type === "Scheduled" && c.reason === "PodGroupUnavailable"),
    );
    expect(waiting.status!.message).toMatch(/install Volcano/);
    expect((await listRunPods(kube, ns, "v1")).map((p) => p.name)).toEqual(["v1-coordinator-0"]);

    await installPodGroupCrd(kube);
    // Level-triggered: the next resync creates the PodGroup, then the trainers.
    const pg = await eventually(
      "PodGroup v1",
      () =>
        kube.json<{
          metadata: { ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> };
          spec: Record<string, unknown>;
        }>("GET", pgPath(ns, "v1")),
      () => true,
      30_000,
    );
    expect(pg.spec).toEqual({
      minMember: 2,
      minResources: { cpu: "3000m", memory: "2Gi", "nvidia.com/gpu": "4" },
      queue: "research",
      priorityClassName: "radfleet-test-training",
    });
    expect(pg.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "TrainingRun", name: "v1", controller: true }),
    ]);
    await eventually(
      "3 trainers",
      () => listRunPods(kube, ns, "v1"),
      (p) => p.length === 4,
    );
    for (const i of [0, 1, 2]) {
      const pod = await getPod(ns, `v1-worker-${i}-0`);
      expect(pod.spec.schedulerName).toBe("volcano");
      expect(pod.metadata.annotations).toMatchObject({
        "scheduling.k8s.io/group-name": "v1",
        "scheduling.volcano.sh/queue-name": "research",
      });
      expect(pod.spec.nodeName).toBeUndefined(); // no Volcano scheduler here: they stay Pending
    }
    const coord = await getPod(ns, "v1-coordinator-0");
    expect(coord.spec.schedulerName).toBe("default-scheduler");

    // Well past gangTimeoutSeconds (3 s in the fixtures): still waiting for the queue.
    await sleep(5000);
    const run = await eventually(
      "WaitingForQueue",
      () => getRun(kube, ns, "v1"),
      (r) => !!r.status?.conditions?.some((c) => c.type === "Scheduled" && c.reason === "WaitingForQueue"),
    );
    expect(run.status!.phase).toBe("Pending");
    expect(run.status!.conditions!.find((c) => c.type === "Scheduled")!.message).toMatch(
      /admission deferred to Volcano queue research/,
    );
    const events = await kube.json<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(
      "GET",
      `/api/v1/namespaces/${ns}/events`,
    );
    expect(events.items.filter((e) => e.involvedObject.name === "v1").map((e) => e.reason)).not.toContain(
      "Unschedulable",
    );

    // Volcano reports on the PodGroup; the run's condition carries it.
    const cur = await kube.json<Record<string, unknown>>("GET", pgPath(ns, "v1"));
    await kube.json("PUT", `${pgPath(ns, "v1")}/status`, {
      ...cur,
      status: {
        phase: "Inqueue",
        conditions: [{ type: "Unschedulable", status: "True", message: "3/3 tasks in gang unschedulable" }],
      },
    });
    await eventually(
      "PodGroup state in the run's condition",
      () => getRun(kube, ns, "v1"),
      (r) =>
        !!r.status?.conditions?.some(
          (c) => c.type === "Scheduled" && /PodGroup Inqueue: 3\/3 tasks/.test(c.message ?? ""),
        ),
      20_000,
    );

    // A spec change is carried to the PodGroup (a merge patch).
    await kube.mergePatch(`${runsPath(ns)}/v1`, { spec: { replicas: { min: 1, max: 3 } } });
    await eventually(
      "minMember 1",
      () =>
        kube.json<{ spec: { minMember: number; minResources: Record<string, string> } }>(
          "GET",
          pgPath(ns, "v1"),
        ),
      (p) => p.spec.minMember === 1 && p.spec.minResources.cpu === "1500m",
    );

    // Owned, so deleting the run takes the PodGroup with it (the garbage collector).
    await kube.json("DELETE", `${runsPath(ns)}/v1`, { propagationPolicy: "Foreground" });
    await eventually(
      "PodGroup v1 gone",
      () => kube.raw("GET", pgPath(ns, "v1")),
      (r) => r.status === 404,
      60_000,
    );
  });
});

describe("gang scheduling deferred to Kueue", () => {
  it("labels the trainers for Kueue's pod groups and does not time the gang out itself", async () => {
    const ns = await freshNamespace("kueue");
    await kube.create(
      trainingRun("k1", ns, {
        resources: { gpusPerWorker: 16, cpu: "1", memory: "1Gi" },
        scheduling: { queueName: "team-a" },
      }),
    );
    await eventually(
      "3 pods",
      () => listRunPods(kube, ns, "k1"),
      (p) => p.length === 3,
    );
    for (const i of [0, 1]) {
      const pod = await getPod(ns, `k1-worker-${i}-0`);
      expect(pod.metadata.labels).toMatchObject({
        "kueue.x-k8s.io/queue-name": "team-a",
        "kueue.x-k8s.io/pod-group-name": "k1",
      });
      expect(pod.metadata.annotations!["kueue.x-k8s.io/pod-group-total-count"]).toBe("2");
    }
    const coord = await getPod(ns, "k1-coordinator-0");
    expect(coord.metadata.labels!["kueue.x-k8s.io/queue-name"]).toBeUndefined();
    // 16 GPUs fit no node: without a queue this is Unschedulable after 3 s (controller.test).
    await sleep(5000);
    const run = await getRun(kube, ns, "k1");
    expect(run.status!.conditions!.find((c) => c.type === "Scheduled")).toMatchObject({
      status: "False",
      reason: "WaitingForQueue",
      message: "admission deferred to Kueue queue team-a",
    });
  });

  it("a run created suspended with Kueue's queue label starts when unsuspended (admission) and stops when suspended (preemption)", async () => {
    const ns = await freshNamespace("kueue-suspend");
    const tr = trainingRun("k2", ns, { suspend: true });
    (tr.metadata as Record<string, unknown>).labels = { "kueue.x-k8s.io/queue-name": "team-b" };
    await kube.create(tr);
    await eventually(
      "Suspended",
      () => getRun(kube, ns, "k2"),
      (r) => r.status?.phase === "Suspended",
    );
    await sleep(1000);
    expect(await listRunPods(kube, ns, "k2")).toEqual([]);

    await kube.mergePatch(`${runsPath(ns)}/k2`, { spec: { suspend: false } });
    await eventually(
      "Running after admission",
      () => getRun(kube, ns, "k2"),
      (r) => r.status?.phase === "Running",
    );
    const worker = await getPod(ns, "k2-worker-0-0");
    expect(worker.metadata.labels!["kueue.x-k8s.io/queue-name"]).toBe("team-b");

    await kube.mergePatch(`${runsPath(ns)}/k2`, { spec: { suspend: true } });
    await eventually(
      "Suspended after preemption",
      () => getRun(kube, ns, "k2"),
      (r) => r.status?.phase === "Suspended",
    );
    await eventually(
      "pods stopped",
      () => listRunPods(kube, ns, "k2"),
      (p) => p.length === 0,
    );
  });
});

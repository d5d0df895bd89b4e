// Two controllers share one Lease: only the leader acts; when it dies the standby takes over, and
// a controller restarted mid-run rebuilds its view from the API server without losing restarts.
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { kubeClient } from "./kube-client.js";
import { namespace, trainingRun } from "./fixtures.js";
import { eventually, getRun, listRunPods, startControllerProc, type ControllerProc } from "./helpers.js";

const kubeconfig = inject("kubeconfig");
const kube = kubeClient(kubeconfig);
const procs: ControllerProc[] = [];
const start = async (id: string) => {
  const p = await startControllerProc(kubeconfig, id);
  procs.push(p);
  return p;
};
afterAll(async () => {
  for (const p of procs) await p.stop();
});

const holder = async () =>
  (
    await kube.json<{ spec?: { holderIdentity?: string } }>(
      "GET",
      "/apis/coordination.k8s.io/v1/namespaces/default/leases/radfleet-controller",
    )
  ).spec?.holderIdentity;
const failPod = (ns: string, pod: string) =>
  kube.mergePatch(`/api/v1/namespaces/${ns}/pods/${pod}`, {
    metadata: { labels: { "pod-container-running-failed.stage.kwok.x-k8s.io": "true" } },
  });

describe("leader election and controller restarts", () => {
  it("one leader of two; the standby takes over when the leader dies; a restart loses nothing", async () => {
    const ns = "leader";
    await kube.create(namespace(ns));
    await eventually(
      "default SA",
      () => kube.raw("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`),
      (r) => r.status === 200,
    );
    const a = await start("ctl-a");
    await eventually("ctl-a leads", holder, (h) => h === "ctl-a");
    const b = await start("ctl-b");
    await kube.create(
      trainingRun("lr", ns, {
        restartPolicy: { backoffLimit: 5, initialBackoffSeconds: 1, maxBackoffSeconds: 2 },
      }),
    );
    await eventually(
      "Running",
      () => getRun(kube, ns, "lr"),
      (r) => r.status?.phase === "Running",
    );
    await eventually(
      "ctl-b stands by",
      async () => b.logs(),
      (l) => l.includes("lease_held_by_other"),
    );
    expect(a.logs()).toContain("controller_started");
    expect(b.logs()).not.toContain("controller_started");

    // The leader crashes without releasing the lease: the standby waits for expiry, then acts.
    await a.stop("SIGKILL");
    await eventually("ctl-b leads", holder, (h) => h === "ctl-b", 20_000);
    await failPod(ns, "lr-worker-0-0");
    await eventually(
      "ctl-b replaced the worker",
      () => getRun(kube, ns, "lr"),
      (r) => r.status?.phase === "Running" && r.status.restarts === 1,
    );

    // No controller at all while a worker fails; a fresh one picks up from the cluster's state.
    await b.stop("SIGKILL");
    await failPod(ns, "lr-worker-1-0");
    await eventually(
      "pod failed",
      () => listRunPods(kube, ns, "lr"),
      (p) => p.find((x) => x.name === "lr-worker-1-0")?.phase === "Failed",
    );
    const c = await start("ctl-c");
    const run = await eventually(
      "ctl-c restored Running",
      () => getRun(kube, ns, "lr"),
      (r) => r.status?.phase === "Running" && r.status.restarts === 2,
      30_000,
    );
    expect(run.status!.replicasReadyText).toBe("2/2");
    const names = (await listRunPods(kube, ns, "lr")).map((p) => p.name).sort();
    expect(names).toEqual([
      "lr-coordinator-0",
      "lr-worker-0-0",
      "lr-worker-0-1",
      "lr-worker-1-0",
      "lr-worker-1-1",
    ]);
    expect(c.logs()).toContain("leadership_acquired");
  });
});

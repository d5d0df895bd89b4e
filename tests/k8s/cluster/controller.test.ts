// The controller against a real API server: owned objects, status from pod phases (kwok),
// failure replacement with back-off and the limit, suspend/resume, Unschedulable, deletion.
// Once per transport: @kubernetes/client-node (the default) and the built-in REST client.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runProgressKey } from "../../../common/run-records.js";
import { freePort } from "./control-plane.js";
import { kubeClient } from "./kube-client.js";
import { namespace, trainingRun } from "./fixtures.js";
import { eventually, getRun, listRunPods, startControllerProc, type ControllerProc } from "./helpers.js";

const kube = kubeClient(inject("kubeconfig"));
const runsPath = (ns: string) => `/apis/radfleet.io/v1alpha1/namespaces/${ns}/trainingruns`;

async function createNamespace(name: string): Promise<string> {
  await kube.create(namespace(name));
  // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
  await eventually(
    `serviceaccount default in ${name}`,
    () => kube.raw("GET", `/api/v1/namespaces/${name}/serviceaccounts/default`),
    (r) => r.status === 200,
  );
  return name;
}

const failPod = (ns: string, pod: string) =>
  kube.mergePatch(`/api/v1/namespaces/${ns}/pods/${pod}`, {
    metadata: { labels: { "pod-container-running-failed.stage.kwok.x-k8s.io": "true" } },
  });

describe.each(["client-node", "rest"] as const)(
  "TrainingRun controller on a real API server, %s transport",
  (transport) => {
    let ctl: ControllerProc;
    beforeAll(async () => {
      ctl = await startControllerProc(inject("kubeconfig"), `ctl-main-${transport}`, [
        "--transport",
        transport,
      ]);
    });
    afterAll(async () => {
      await ctl?.stop();
    });
    // Each transport's pass gets its own namespaces.
    const freshNamespace = (name: string) => createNamespace(transport === "rest" ? `${name}-rest` : name);

    it("logs the transport it was started with", async () => {
      await eventually(
        "kube_transport logged",
        async () => ctl.logs(),
        (l) => l.includes(`"kube_transport"`),
      );
      expect(ctl.logs()).toContain(`"transport":"${transport}"`);
    });

    it("creates owned objects and reports Running with printer columns from pod phases", async () => {
      const ns = await freshNamespace("life");
      await kube.create(trainingRun("r1", ns));
      const pods = await eventually(
        "3 pods",
        () => listRunPods(kube, ns, "r1"),
        (p) => p.length === 3,
      );
      expect(pods.map((p) => p.name).sort()).toEqual(["r1-coordinator-0", "r1-worker-0-0", "r1-worker-1-0"]);
      expect(pods.every((p) => p.owner === "TrainingRun/r1")).toBe(true);
      for (const [kind, name] of [
        ["services", "r1"],
        ["configmaps", "r1-spec"],
        ["secrets", "r1-token"],
      ]) {
        const o = await kube.json<{
          metadata: { ownerReferences: Array<{ name: string; controller: boolean }> };
        }>("GET", `/api/v1/namespaces/${ns}/${kind}/${name}`);
        expect(o.metadata.ownerReferences[0]).toMatchObject({ name: "r1", controller: true });
      }
      const run = await eventually(
        "Running",
        () => getRun(kube, ns, "r1"),
        (r) => r.status?.phase === "Running",
      );
      expect(run.status!.replicasReadyText).toBe("2/2");
      expect(run.status!.conditions!.find((c) => c.type === "Scheduled")).toMatchObject({
        status: "True",
        reason: "GangScheduled",
      });
      // The printer columns as kubectl gets them (server-side Table).
      const table = await kube.raw(
        "GET",
        `${runsPath(ns)}/r1`,
        undefined,
        undefined,
        "application/json;as=Table;v=v1;g=meta.k8s.io",
      );
      const t = JSON.parse(table.body) as {
        columnDefinitions: Array<{ name: string }>;
        rows: Array<{ cells: unknown[] }>;
      };
      expect(t.columnDefinitions.map((c) => c.name)).toEqual([
        "Name",
        "Phase",
        "Ready",
        "Step",
        "Progress",
        "ETA",
        "Loss",
        "Restarts",
        "Age",
      ]);
      expect(t.rows[0].cells.slice(0, 3)).toEqual(["r1", "Running", "2/2"]);
      const events = await kube.json<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(
        "GET",
        `/api/v1/namespaces/${ns}/events`,
      );
      expect(events.items.filter((e) => e.involvedObject.name === "r1").map((e) => e.reason)).toEqual(
        expect.arrayContaining(["Created", "Running"]),
      );
    });

    it("replaces a failed worker with back-off, and fails the run past the back-off limit", async () => {
      const ns = await freshNamespace("failures");
      await kube.create(
        trainingRun("r2", ns, {
          restartPolicy: { backoffLimit: 1, initialBackoffSeconds: 1, maxBackoffSeconds: 2 },
        }),
      );
      await eventually(
        "Running",
        () => getRun(kube, ns, "r2"),
        (r) => r.status?.phase === "Running",
      );
      await failPod(ns, "r2-worker-1-0");
      const pods = await eventually(
        "replacement r2-worker-1-1",
        () => listRunPods(kube, ns, "r2"),
        (p) => p.some((x) => x.name === "r2-worker-1-1"),
      );
      // Only the lost worker is replaced: the survivor keeps running under its first name.
      expect(pods.find((p) => p.name === "r2-worker-0-0")?.phase).toBe("Running");
      expect(pods.find((p) => p.name === "r2-worker-1-0")?.phase).toBe("Failed");
      const back = await eventually(
        "Running again with 1 restart",
        () => getRun(kube, ns, "r2"),
        (r) => r.status?.phase === "Running" && r.status.restarts === 1,
      );
      expect(back.status!.restarts).toBe(1);
      await failPod(ns, "r2-worker-1-1");
      const failed = await eventually(
        "Failed",
        () => getRun(kube, ns, "r2"),
        (r) => r.status?.phase === "Failed",
        30_000,
      );
      expect(failed.status!.conditions!.find((c) => c.type === "Failed")).toMatchObject({
        status: "True",
        reason: "BackoffLimitExceeded",
      });
      expect(failed.status!.message).toMatch(/backoffLimit=1/);
      // The rest of the run's pods are stopped.
      await eventually(
        "non-failed pods gone",
        () => listRunPods(kube, ns, "r2"),
        (p) => p.every((x) => x.phase === "Failed"),
      );
    });

    it("suspends (pods stopped) and resumes (pods back, Running)", async () => {
      const ns = await freshNamespace("suspend");
      await kube.create(trainingRun("r3", ns));
      await eventually(
        "Running",
        () => getRun(kube, ns, "r3"),
        (r) => r.status?.phase === "Running",
      );
      await kube.mergePatch(`${runsPath(ns)}/r3`, { spec: { suspend: true } });
      await eventually(
        "Suspended",
        () => getRun(kube, ns, "r3"),
        (r) => r.status?.phase === "Suspended",
      );
      await eventually(
        "no pods",
        () => listRunPods(kube, ns, "r3"),
        (p) => p.length === 0,
      );
      await kube.mergePatch(`${runsPath(ns)}/r3`, { spec: { suspend: false } });
      const run = await eventually(
        "Running after resume",
        () => getRun(kube, ns, "r3"),
        (r) => r.status?.phase === "Running",
      );
      expect(run.status!.replicasReadyText).toBe("2/2");
      const events = await kube.json<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(
        "GET",
        `/api/v1/namespaces/${ns}/events`,
      );
      expect(events.items.filter((e) => e.involvedObject.name === "r3").map((e) => e.reason)).toEqual(
        expect.arrayContaining(["Suspended"]),
      );
    });

    it("reports Unschedulable with the scheduler's reason when GPUs are short", async () => {
      const ns = await freshNamespace("nogpu");
      await kube.create(trainingRun("r4", ns, { resources: { gpusPerWorker: 16, cpu: "1", memory: "1Gi" } }));
      const run = await eventually(
        "Unschedulable",
        () => getRun(kube, ns, "r4"),
        (r) => !!r.status?.conditions?.some((c) => c.type === "Scheduled" && c.reason === "Unschedulable"),
        30_000,
      );
      expect(run.status!.phase).toBe("Pending");
      expect(run.status!.conditions!.find((c) => c.type === "Scheduled")!.message).toMatch(
        /Insufficient nvidia\.com\/gpu/,
      );
    });

    it("deleting a run removes everything it owned", async () => {
      const ns = await freshNamespace("cleanup");
      await kube.create(trainingRun("r5", ns));
      await eventually(
        "Running",
        () => getRun(kube, ns, "r5"),
        (r) => r.status?.phase === "Running",
      );
      await kube.json("DELETE", `${runsPath(ns)}/r5`, { propagationPolicy: "Foreground" });
      await eventually(
        "pods gone",
        () => listRunPods(kube, ns, "r5"),
        (p) => p.length === 0,
        60_000,
      );
      for (const [kind, name] of [
        ["services", "r5"],
        ["configmaps", "r5-spec"],
        ["secrets", "r5-token"],
      ]) {
        await eventually(
          `${kind}/${name} gone`,
          () => kube.raw("GET", `/api/v1/namespaces/${ns}/${kind}/${name}`),
          (r) => r.status === 404,
          60_000,
        );
      }
      await eventually(
        "run gone",
        () => kube.raw("GET", `${runsPath(ns)}/r5`),
        (r) => r.status === 404,
        60_000,
      );
    });

    it("gives up on a pod stuck Terminating (lost node) after the grace period and replaces it under a new name", async () => {
      const ns = await freshNamespace("stuck");
      await kube.create(trainingRun("s1", ns));
      await eventually(
        "Running",
        () => getRun(kube, ns, "s1"),
        (r) => r.status?.phase === "Running",
      );
      // A finalizer nobody removes stands in for a kubelet that never confirms the deletion.
      const podPath = `/api/v1/namespaces/${ns}/pods/s1-worker-0-0`;
      await kube.mergePatch(podPath, { metadata: { finalizers: ["radfleet.io/test-lost-node"] } });
      await kube.json("DELETE", podPath, { gracePeriodSeconds: 1 });
      const pods = await eventually(
        "replacement s1-worker-0-1",
        () => listRunPods(kube, ns, "s1"),
        (p) => p.some((x) => x.name === "s1-worker-0-1"),
        30_000,
      );
      expect(pods.find((p) => p.name === "s1-worker-0-0")?.deleting).toBe(true);
      const run = await eventually(
        "Running again",
        () => getRun(kube, ns, "s1"),
        (r) => r.status?.phase === "Running" && r.status.restarts === 1,
      );
      expect(run.status!.replicasReadyText).toBe("2/2");
      await kube.mergePatch(podPath, { metadata: { finalizers: null } });
    });

    it("shows progress, ETA, loss and checkpoint from the coordinator's NATS KV record", async () => {
      const ns = await freshNamespace("progress");
      const port = await freePort();
      const dir = await mkdtemp(join(tmpdir(), "radfleet-k8s-nats-"));
      const nats = spawn(
        process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server",
        ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir],
        { stdio: "ignore" },
      );
      try {
        const url = `nats://127.0.0.1:${port}`;
        const nc = await eventually(
          "nats up",
          () => connect({ servers: url, timeout: 500 }),
          () => true,
        );
        const kv = await new Kvm(nc).create("radfleet-runs");
        await kv.put(
          runProgressKey("p1"),
          JSON.stringify({
            step: 50,
            totalSteps: 200,
            loss: 0.8123,
            generation: 2,
            worldSize: 2,
            restarts: 0,
            lastCheckpoint: { step: 40, uri: "file:///ckpt/40", time: "2026-01-01T00:00:00Z" },
            evaluation: { rougeL_f: 0.27 },
          }),
        );
        await kube.create(trainingRun("p1", ns, { nats: { url } }));
        const run = await eventually(
          "progress in status",
          () => getRun(kube, ns, "p1"),
          (r) => r.status?.phase === "Running" && r.status.step === 50,
        );
        expect(run.status).toMatchObject({
          progress: "25%",
          loss: "0.8123",
          generation: 2,
          worldSize: 2,
          lastCheckpoint: { step: 40 },
          evaluation: { rougeL_f: 0.27 },
        });
        // The next poll picks up new progress without any Kubernetes event.
        await kv.put(runProgressKey("p1"), JSON.stringify({ step: 150, totalSteps: 200, loss: 0.5 }));
        const later = await eventually(
          "progress polled",
          () => getRun(kube, ns, "p1"),
          (r) => r.status?.step === 150,
          30_000,
        );
        expect(later.status!.progress).toBe("75%");
        expect(later.status!.eta).toMatch(/^\d+(s|m\d{2}s|h\d{2}m)$/);
        const table = await kube.raw(
          "GET",
          `${runsPath(ns)}/p1`,
          undefined,
          undefined,
          "application/json;as=Table;v=v1;g=meta.k8s.io",
        );
        const cells = (JSON.parse(table.body) as { rows: Array<{ cells: unknown[] }> }).rows[0].cells;
        expect(cells.slice(1, 5)).toEqual(["Running", "2/2", 150, "75%"]);
        await nc.close();
      } finally {
        nats.kill("SIGTERM");
        await rm(dir, { recursive: true, force: true });
      }
    });

    it("marks a run Succeeded when its coordinator completes, and deletes it after ttlSecondsAfterFinished", async () => {
      const ns = await freshNamespace("ttl");
      await kube.create(trainingRun("t1", ns, { ttlSecondsAfterFinished: 2 }));
      await eventually(
        "Running",
        () => getRun(kube, ns, "t1"),
        (r) => r.status?.phase === "Running",
      );
      // The coordinator exits 0 when training is done; on kwok nodes we set that through the API.
      const pod = await kube.json<{ status: Record<string, unknown> }>(
        "GET",
        `/api/v1/namespaces/${ns}/pods/t1-coordinator-0`,
      );
      await kube.json("PUT", `/api/v1/namespaces/${ns}/pods/t1-coordinator-0/status`, {
        ...pod,
        status: { ...pod.status, phase: "Succeeded" },
      });
      const done = await eventually(
        "Succeeded",
        () => getRun(kube, ns, "t1"),
        (r) => r.status?.phase === "Succeeded",
      );
      expect(done.status!.conditions!.find((c) => c.type === "Succeeded")).toMatchObject({ status: "True" });
      await eventually(
        "run deleted by TTL",
        () => kube.raw("GET", `${runsPath(ns)}/t1`),
        (r) => r.status === 404,
        30_000,
      );
    });

    it("serves its metrics: runs by phase, reconcile duration", async () => {
      const res = await fetch(`http://127.0.0.1:${ctl.metricsPort}/metrics`, {
        signal: AbortSignal.timeout(5000),
      });
      const text = await res.text();
      expect(text).toMatch(/radfleet_runs\{phase="Running"\} [1-9]/);
      expect(text).toMatch(/radfleet_reconcile_duration_seconds_count [1-9]/);
      expect(text).toMatch(/radfleet_pod_restarts_total [1-9]/);
    });
  },
);

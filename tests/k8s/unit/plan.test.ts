// The reconciler's decisions, computed without a cluster: planRun is pure.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseRunSpec } from "../../../common/spec/index.js";
import {
  LABEL_ROLE,
  backoffSeconds,
  desiredConfigMap,
  desiredCoordinatorPod,
  desiredTrainerPod,
  formatDuration,
  planRun,
  type Observed,
  type TrainingRunObject,
  withDefaultNats,
} from "../../../controller/k8s/index.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");

function makeRun(
  spec: Record<string, unknown> = {},
  status?: TrainingRunObject["status"],
): TrainingRunObject {
  return {
    apiVersion: "radfleet.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name: "r1", namespace: "ml", uid: "uid-1", generation: 1 },
    spec,
    status,
  };
}

const specOf = (run: TrainingRunObject) => parseRunSpec(run.spec).spec;

function withStatus(
  pod: V1Pod,
  phase: string,
  opts: { ready?: boolean; node?: string; at?: number } = {},
): V1Pod {
  const at = new Date(opts.at ?? T0).toISOString();
  return {
    ...pod,
    metadata: { ...pod.metadata, creationTimestamp: new Date(T0) },
    spec: { ...pod.spec!, nodeName: opts.node ?? (phase === "Pending" ? undefined : "n1") },
    status: {
      phase,
      conditions: opts.ready ? [{ type: "Ready", status: "True" }] : [],
      containerStatuses:
        phase === "Failed"
          ? [
              {
                name: "trainer",
                image: "x",
                imageID: "",
                ready: false,
                restartCount: 0,
                state: { terminated: { exitCode: 1, reason: "Error", finishedAt: new Date(at) } },
              },
            ]
          : [],
    },
  };
}

function allObjects(): Omit<Observed, "pods"> {
  return { hasService: true, hasConfigMap: true, hasSecret: true };
}

describe("planRun", () => {
  it("creates service, spec, token, the coordinator and one trainer per replica on a fresh run", () => {
    const run = makeRun({ replicas: { min: 2, max: 3 }, resources: { gpusPerWorker: 2 } });
    const plan = planRun(
      run,
      specOf(run),
      { pods: [], hasService: false, hasConfigMap: false, hasSecret: false },
      T0,
    );
    expect(plan.createService && plan.createConfigMap && plan.createSecret).toBe(true);
    expect(plan.createPods.map((p) => p.metadata!.name)).toEqual([
      "r1-coordinator-0",
      "r1-worker-0-0",
      "r1-worker-1-0",
      "r1-worker-2-0",
    ]);
    expect(plan.status.phase).toBe("Pending");
    expect(plan.status.replicasReadyText).toBe("0/3");
    expect(plan.events.map((e) => e.reason)).toContain("Created");
  });

  it("builds trainer pods with GPU requests, env contract, owner reference and non-root security", () => {
    const run = makeRun({
      resources: { gpusPerWorker: 2, cpu: "4", memory: "16Gi" },
      scheduling: {
        nodeSelector: { pool: "gpu" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        priorityClassName: "training",
        checkpointVolumeClaim: "ckpt",
        dataVolumeClaim: "mimic",
      },
    });
    const pod = desiredTrainerPod(run, specOf(run), 1, 0);
    const c = pod.spec!.containers[0];
    expect(c.resources!.requests!["nvidia.com/gpu"]).toBe("2");
    expect(c.resources!.limits!["nvidia.com/gpu"]).toBe("2");
    expect(c.command).toEqual(["radfleet", "trainer"]);
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env.RADFLEET_RUN_ID).toBe("r1");
    expect(env.RADFLEET_WORKER_ID).toBe("r1-worker-1");
    expect(env.RADFLEET_COORDINATOR).toBe("r1:7070");
    expect(env.RADFLEET_SPEC).toBe("/etc/radfleet/spec.yaml");
    expect(env.RADFLEET_TOKEN).toEqual({ secretKeyRef: { name: "r1-token", key: "token" } });
    // The tensor engine's threads follow the cores reserved for the pod (its request: no limit is set,
    // and limits.cpu would read as the whole node).
    expect(c.resources?.limits?.cpu).toBeUndefined();
    expect(env.RADFLEET_CPU_LIMIT).toEqual({
      resourceFieldRef: { containerName: "trainer", resource: "requests.cpu", divisor: "1" },
    });
    expect(pod.metadata!.ownerReferences![0]).toMatchObject({
      uid: "uid-1",
      controller: true,
      kind: "TrainingRun",
    });
    expect(pod.spec!.securityContext!.runAsNonRoot).toBe(true);
    expect(pod.spec!.nodeSelector).toEqual({ pool: "gpu" });
    expect(pod.spec!.priorityClassName).toBe("training");
    expect(pod.spec!.volumes!.map((v) => v.name)).toEqual(["spec", "run", "tmp", "data", "checkpoints"]);
    expect(pod.metadata!.labels![LABEL_ROLE]).toBe("trainer");
  });

  it("places trainers with the spec's tolerations and affinity", () => {
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "gpu", operator: "In", values: ["h100"] }] }],
        },
      },
    };
    const tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
    const run = makeRun({ scheduling: { tolerations, affinity } });
    const pod = desiredTrainerPod(run, specOf(run), 0, 0);
    expect(pod.spec!.tolerations).toEqual(tolerations);
    expect(pod.spec!.affinity).toEqual(affinity);
  });

  it("builds the coordinator pod: only the run's worker ids, a drain longer than the trainers' grace, state beside the checkpoints", () => {
    const withVolume = makeRun({ scheduling: { checkpointVolumeClaim: "ckpt" } });
    const pod = desiredCoordinatorPod(withVolume, specOf(withVolume), 0);
    const cmd = pod.spec!.containers[0].command!;
    const arg = (flag: string) => cmd[cmd.indexOf(flag) + 1];
    expect(cmd.slice(0, 2)).toEqual(["radfleet", "coordinator"]);
    expect(arg("--worker-id-prefix")).toBe("r1-worker-");
    // The prefix admits exactly the ids trainer pods get.
    const trainer = desiredTrainerPod(withVolume, specOf(withVolume), 1, 0);
    const id = trainer.spec!.containers[0].env!.find((e) => e.name === "RADFLEET_WORKER_ID")!.value!;
    expect(id).toBe(`${arg("--worker-id-prefix")}1`);
    const drain = Number(arg("--drain-seconds"));
    expect(drain).toBeGreaterThan(trainer.spec!.terminationGracePeriodSeconds!);
    expect(pod.spec!.terminationGracePeriodSeconds!).toBeGreaterThan(drain);
    expect(arg("--state-file")).toBe("/var/lib/radfleet/checkpoints/run-state.json");
    expect(pod.spec!.containers[0].volumeMounts!.map((m) => m.mountPath)).toContain(
      "/var/lib/radfleet/checkpoints",
    );

    const without = makeRun();
    expect(desiredCoordinatorPod(without, specOf(without), 0).spec!.containers[0].command).not.toContain(
      "--state-file",
    );
  });

  it("gives a run without spec.nats.url the controller's NATS (the chart's nats.url); a run's own wins", () => {
    const bare = makeRun();
    const spec = withDefaultNats(specOf(bare), "nats://nats.infra:4222");
    expect(spec.nats.url).toBe("nats://nats.infra:4222");
    // The pods read the spec from the ConfigMap, so trainers and coordinator use it too.
    expect(desiredConfigMap(bare, spec).data!["spec.yaml"]).toMatch(/url: nats:\/\/nats\.infra:4222/);
    const own = makeRun({ nats: { url: "nats://mine:4222" } });
    expect(withDefaultNats(specOf(own), "nats://nats.infra:4222").nats.url).toBe("nats://mine:4222");
    expect(withDefaultNats(specOf(bare), undefined).nats.url).toBeUndefined();
  });

  it("defers to Kueue with queue and pod-group labels", () => {
    const run = makeRun({ scheduling: { queueName: "team-a" }, replicas: { min: 2, max: 2 } });
    const pod = desiredTrainerPod(run, specOf(run), 0, 0);
    expect(pod.metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBe("team-a");
    expect(pod.metadata!.annotations!["kueue.x-k8s.io/pod-group-total-count"]).toBe("2");
    const plan = planRun(
      run,
      specOf(run),
      { ...allObjects(), pods: [withStatus(pod, "Pending")] },
      T0 + 3_600_000,
    );
    const sched = plan.status.conditions!.find((c) => c.type === "Scheduled")!;
    expect(sched.reason).toBe("WaitingForQueue");
  });

  it("is Running when the coordinator and min workers are ready, with progress and ETA", () => {
    const run = makeRun({ replicas: { min: 2, max: 2 } }, { startTime: new Date(T0).toISOString() });
    const spec = specOf(run);
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 0, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 1, 0), "Running", { ready: true }),
    ];
    const plan = planRun(
      run,
      spec,
      {
        ...allObjects(),
        pods,
        progress: { step: 25, totalSteps: 100, loss: 1.23456, generation: 2, worldSize: 2 },
      },
      T0 + 50_000,
    );
    expect(plan.createPods).toEqual([]);
    expect(plan.status).toMatchObject({
      phase: "Running",
      replicasReadyText: "2/2",
      step: 25,
      progress: "25%",
      eta: "2m30s",
      loss: "1.2346",
      generation: 2,
      worldSize: 2,
    });
  });

  it("replaces only the failed worker, after exponential back-off, under the next attempt name", () => {
    const run = makeRun(
      {
        replicas: { min: 2, max: 2 },
        restartPolicy: { backoffLimit: 3, initialBackoffSeconds: 10, maxBackoffSeconds: 60 },
      },
      { startTime: new Date(T0).toISOString(), phase: "Running" },
    );
    const spec = specOf(run);
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 0, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 1, 0), "Failed", { at: T0 + 1000 }),
    ];
    const early = planRun(run, spec, { ...allObjects(), pods }, T0 + 5000);
    expect(early.createPods).toEqual([]);
    expect(early.status.phase).toBe("Restarting");
    expect(early.requeueAfterMs).toBe(6000);
    const late = planRun(run, spec, { ...allObjects(), pods }, T0 + 11_000);
    expect(late.createPods.map((p) => p.metadata!.name)).toEqual(["r1-worker-1-1"]);
    expect(late.deletePods).toEqual([]);
    expect(late.status.restarts).toBe(1);
    expect(late.events.some((e) => e.reason === "WorkerReplaced")).toBe(true);
    expect(backoffSeconds(spec, 0)).toBe(10);
    expect(backoffSeconds(spec, 2)).toBe(40);
    expect(backoffSeconds(spec, 5)).toBe(60);
  });

  it("fails the run with the reason once failures exceed the back-off limit, and stops the rest", () => {
    const run = makeRun(
      { replicas: { min: 1, max: 1 }, restartPolicy: { backoffLimit: 1 } },
      { phase: "Restarting", startTime: new Date(T0).toISOString() },
    );
    const spec = specOf(run);
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 0, 0), "Failed"),
      withStatus(desiredTrainerPod(run, spec, 0, 1), "Failed"),
    ];
    const plan = planRun(run, spec, { ...allObjects(), pods }, T0 + 100_000);
    expect(plan.status.phase).toBe("Failed");
    expect(plan.status.conditions!.find((c) => c.type === "Failed")!.reason).toBe("BackoffLimitExceeded");
    expect(plan.status.message).toMatch(/exceed restartPolicy.backoffLimit=1/);
    expect(plan.deletePods.map((d) => d.name)).toEqual(["r1-coordinator-0"]);
    expect(plan.createPods).toEqual([]);
    expect(plan.events.at(-1)).toMatchObject({ type: "Warning", reason: "Failed" });
  });

  it("a trainer's permanent-failure exit fails the run at once, with its message, not after the back-off limit", () => {
    const run = makeRun(
      { replicas: { min: 1, max: 1 }, restartPolicy: { backoffLimit: 5 } },
      { phase: "Running", startTime: new Date(T0).toISOString() },
    );
    const spec = specOf(run);
    const failed = withStatus(desiredTrainerPod(run, spec, 0, 0), "Failed");
    failed.status!.containerStatuses![0].state!.terminated!.exitCode = 3;
    failed.status!.containerStatuses![0].state!.terminated!.message = "model.path /models/ov: no config.json";
    const pods = [withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }), failed];
    const plan = planRun(run, spec, { ...allObjects(), pods }, T0 + 100_000);
    expect(plan.status.phase).toBe("Failed");
    expect(plan.status.conditions!.find((c) => c.type === "Failed")!.reason).toBe("PermanentFailure");
    expect(plan.status.message).toMatch(
      /exited with code 3, a failure no restart can fix: model.path \/models\/ov: no config.json/,
    );
    expect(plan.createPods).toEqual([]);
  });

  it("evicted and preempted pods are replaced without counting against the back-off limit", () => {
    const run = makeRun(
      { replicas: { min: 1, max: 1 }, restartPolicy: { backoffLimit: 1, initialBackoffSeconds: 1 } },
      { phase: "Restarting", startTime: new Date(T0).toISOString() },
    );
    const spec = specOf(run);
    const evicted = (attempt: number, how: "kubelet" | "api"): V1Pod => {
      const p = withStatus(desiredTrainerPod(run, spec, 0, attempt), "Failed");
      if (how === "kubelet") p.status!.reason = "Evicted";
      else
        p.status!.conditions = [
          { type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI" },
        ];
      return p;
    };
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }),
      evicted(0, "kubelet"),
      evicted(1, "api"),
      withStatus(desiredTrainerPod(run, spec, 0, 2), "Failed"), // one real failure: within the limit
    ];
    const plan = planRun(run, spec, { ...allObjects(), pods }, T0 + 100_000);
    expect(plan.status.phase).not.toBe("Failed");
    expect(plan.createPods.map((p) => p.metadata!.name)).toEqual(["r1-worker-0-3"]);
    // A second real failure passes the limit; the message says the evictions were not counted.
    const more = [...pods, withStatus(desiredTrainerPod(run, spec, 0, 3), "Failed")];
    const failed = planRun(run, spec, { ...allObjects(), pods: more }, T0 + 200_000);
    expect(failed.status.phase).toBe("Failed");
    expect(failed.status.message).toMatch(
      /2 failures exceed restartPolicy.backoffLimit=1 \(2 evictions not counted\)/,
    );
  });

  it("activeDeadlineSeconds fails a run that has existed too long, and wakes the controller for it", () => {
    const run = makeRun({ replicas: { min: 1, max: 1 }, activeDeadlineSeconds: 600 }, { phase: "Running" });
    run.metadata.creationTimestamp = new Date(T0).toISOString() as unknown as Date;
    const spec = specOf(run);
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 0, 0), "Running", { ready: true }),
    ];
    const early = planRun(run, spec, { ...allObjects(), pods }, T0 + 100_000);
    expect(early.status.phase).toBe("Running");
    expect(early.requeueAfterMs).toBeLessThanOrEqual(500_000);
    const late = planRun(run, spec, { ...allObjects(), pods }, T0 + 600_000);
    expect(late.status.phase).toBe("Failed");
    expect(late.status.conditions!.find((c) => c.type === "Failed")!.reason).toBe("DeadlineExceeded");
    expect(late.deletePods.map((d) => d.name).sort()).toEqual(["r1-coordinator-0", "r1-worker-0-0"]);
  });

  it("reports Unschedulable with the scheduler's reason after the gang timeout", () => {
    const run = makeRun({ replicas: { min: 2, max: 2 }, scheduling: { gangTimeoutSeconds: 30 } });
    const spec = specOf(run);
    const unsched = (p: V1Pod): V1Pod => ({
      ...withStatus(p, "Pending"),
      status: {
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
          },
        ],
      },
    });
    const pods = [unsched(desiredTrainerPod(run, spec, 0, 0)), unsched(desiredTrainerPod(run, spec, 1, 0))];
    const before = planRun(run, spec, { ...allObjects(), pods }, T0 + 10_000);
    expect(before.status.conditions!.find((c) => c.type === "Scheduled")!.reason).toBe("Waiting");
    expect(before.requeueAfterMs).toBe(20_000);
    const after = planRun(run, spec, { ...allObjects(), pods }, T0 + 31_000);
    const c = after.status.conditions!.find((x) => x.type === "Scheduled")!;
    expect(c.reason).toBe("Unschedulable");
    expect(c.message).toMatch(/Insufficient nvidia.com\/gpu/);
    expect(after.events.some((e) => e.reason === "Unschedulable")).toBe(true);
  });

  it("suspends by stopping pods and resumes by recreating them under new names", () => {
    const run = makeRun(
      { replicas: { min: 1, max: 1 }, suspend: true },
      { phase: "Running", startTime: new Date(T0).toISOString() },
    );
    const spec = specOf(run);
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }),
      withStatus(desiredTrainerPod(run, spec, 0, 0), "Running", { ready: true }),
    ];
    const s = planRun(run, spec, { ...allObjects(), pods }, T0 + 1000);
    expect(s.status.phase).toBe("Suspended");
    expect(s.deletePods.map((d) => d.name).sort()).toEqual(["r1-coordinator-0", "r1-worker-0-0"]);
    const resumed = makeRun({ replicas: { min: 1, max: 1 } }, s.status);
    const r = planRun(resumed, specOf(resumed), { ...allObjects(), pods: [] }, T0 + 2000);
    expect(r.createPods.map((p) => p.metadata!.name)).toEqual(["r1-coordinator-0", "r1-worker-0-0"]);
    expect(r.status.phase).toBe("Restarting");
  });

  it("force-deletes a pod stuck Terminating past the grace period and replaces it", () => {
    const run = makeRun(
      { replicas: { min: 1, max: 1 } },
      { phase: "Running", startTime: new Date(T0).toISOString() },
    );
    const spec = specOf(run);
    const stuck = withStatus(desiredTrainerPod(run, spec, 0, 0), "Running", { ready: true });
    stuck.metadata!.deletionTimestamp = new Date(T0);
    const pods = [withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true }), stuck];
    const waiting = planRun(run, spec, { ...allObjects(), pods }, T0 + 10_000, {
      terminatingGraceSeconds: 60,
    });
    expect(waiting.createPods).toEqual([]);
    expect(waiting.requeueAfterMs).toBe(50_000);
    const plan = planRun(run, spec, { ...allObjects(), pods }, T0 + 61_000, { terminatingGraceSeconds: 60 });
    expect(plan.deletePods).toEqual([{ name: "r1-worker-0-0", force: true, reason: "stuck Terminating" }]);
    expect(plan.createPods.map((p) => p.metadata!.name)).toEqual(["r1-worker-0-1"]);
  });

  it("succeeds when the coordinator completes, and deletes the run after ttlSecondsAfterFinished", () => {
    const run = makeRun(
      { replicas: { min: 1, max: 1 }, ttlSecondsAfterFinished: 60 },
      { phase: "Running", startTime: new Date(T0).toISOString() },
    );
    const spec = specOf(run);
    const pods = [
      withStatus(desiredCoordinatorPod(run, spec, 0), "Succeeded"),
      withStatus(desiredTrainerPod(run, spec, 0, 0), "Succeeded"),
    ];
    const done = planRun(run, spec, { ...allObjects(), pods }, T0 + 1000);
    expect(done.status.phase).toBe("Succeeded");
    expect(done.status.completionTime).toBe(new Date(T0 + 1000).toISOString());
    expect(done.deleteRun).toBe(false);
    expect(done.requeueAfterMs).toBe(60_000);
    const later = planRun(
      makeRun(run.spec as Record<string, unknown>, done.status),
      spec,
      { ...allObjects(), pods },
      T0 + 61_000,
    );
    expect(later.deleteRun).toBe(true);
  });

  it("is idempotent: planning twice on the same observation gives the same status", () => {
    const run = makeRun({ replicas: { min: 1, max: 2 } });
    const spec = specOf(run);
    const obs = {
      ...allObjects(),
      pods: [withStatus(desiredCoordinatorPod(run, spec, 0), "Running", { ready: true })],
    };
    const a = planRun(run, spec, obs, T0);
    const b = planRun(makeRun(run.spec as Record<string, unknown>, a.status), spec, obs, T0 + 5000);
    expect(b.status).toEqual(a.status);
    expect(formatDuration(3725)).toBe("1h02m");
  });
});

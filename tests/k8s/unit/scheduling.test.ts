// Hand-off to Kueue and Volcano, computed without a cluster: pod labels and annotations, the
// PodGroup, its corrections, and what the planner does while a queue holds the gang.
import { describe, expect, it } from "vitest";
import { parseRunSpec } from "../../../common/spec/index.js";
import {
  desiredCoordinatorPod,
  desiredPodGroup,
  desiredTrainerPod,
  planRun,
  podGroupPatch,
  scaleQuantity,
  withRunQueueLabel,
  type TrainingRunObject,
} from "../../../controller/k8s/index.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");

function makeRun(spec: Record<string, unknown>, labels?: Record<string, string>): TrainingRunObject {
  return {
    apiVersion: "radfleet.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name: "r1", namespace: "ml", uid: "uid-1", generation: 1, labels },
    spec,
  };
}
const specOf = (run: TrainingRunObject) => withRunQueueLabel(run, parseRunSpec(run.spec).spec);
const objects = { hasService: true, hasConfigMap: true, hasSecret: true };

describe("scaleQuantity", () => {
  it("multiplies quantities exactly, keeping the suffix", () => {
    expect(scaleQuantity("1", 2)).toBe("2");
    expect(scaleQuantity("500m", 3)).toBe("1500m");
    expect(scaleQuantity("1.5Gi", 3)).toBe("4.5Gi");
    expect(scaleQuantity("0.1", 3)).toBe("0.3");
    expect(scaleQuantity("100Mi", 8)).toBe("800Mi");
    expect(scaleQuantity("1e3", 2)).toBe("2e3");
    expect(() => scaleQuantity("two", 2)).toThrow(/expected a quantity/);
  });
});

describe("Volcano", () => {
  const spec = {
    replicas: { min: 2, max: 4 },
    resources: { gpusPerWorker: 2, cpu: "4", memory: "16Gi" },
    scheduling: { schedulerName: "volcano", queueName: "research", priorityClassName: "training" },
  };

  it("builds an owned PodGroup: minMember = min replicas, minResources = min x requests, queue, priority", () => {
    const run = makeRun(spec);
    const pg = desiredPodGroup(run, specOf(run));
    expect(pg).toMatchObject({
      apiVersion: "scheduling.volcano.sh/v1beta1",
      kind: "PodGroup",
      metadata: { name: "r1", namespace: "ml" },
      spec: {
        minMember: 2,
        minResources: { cpu: "8", memory: "32Gi", "nvidia.com/gpu": "4" },
        queue: "research",
        priorityClassName: "training",
      },
    });
    expect(pg.metadata.ownerReferences![0]).toMatchObject({
      kind: "TrainingRun",
      uid: "uid-1",
      controller: true,
    });
  });

  it("puts trainers (not the coordinator) in the group, on the volcano scheduler, without Kueue labels", () => {
    const run = makeRun(spec);
    const trainer = desiredTrainerPod(run, specOf(run), 0, 0);
    expect(trainer.spec!.schedulerName).toBe("volcano");
    expect(trainer.metadata!.annotations).toMatchObject({
      "scheduling.k8s.io/group-name": "r1",
      "scheduling.volcano.sh/queue-name": "research",
    });
    expect(Object.keys(trainer.metadata!.labels!).filter((k) => k.startsWith("kueue.x-k8s.io/"))).toEqual([]);
    const coord = desiredCoordinatorPod(run, specOf(run), 0);
    expect(coord.spec!.schedulerName).toBeUndefined();
    expect(coord.metadata!.annotations!["scheduling.k8s.io/group-name"]).toBeUndefined();
  });

  it("patches only a PodGroup that drifted, and removes what is no longer wanted", () => {
    const run = makeRun(spec);
    const want = desiredPodGroup(run, specOf(run)).spec;
    expect(podGroupPatch(want, want)).toBeUndefined();
    const cur = { ...want, minMember: 1, minResources: { ...want.minResources, "example.com/fpga": "1" } };
    expect(podGroupPatch(cur, want)).toEqual({
      spec: {
        minMember: 2,
        minResources: { cpu: "8", memory: "32Gi", "nvidia.com/gpu": "4", "example.com/fpga": null },
        queue: "research",
        priorityClassName: "training",
      },
    });
  });

  it("waits for Volcano without its own gang timeout, and reports the PodGroup's state", () => {
    const run = makeRun(spec);
    const s = specOf(run);
    const pods = [0, 1, 2, 3].map((i) => desiredTrainerPod(run, s, i, 0));
    const plan = planRun(
      run,
      s,
      {
        ...objects,
        pods: [desiredCoordinatorPod(run, s, 0), ...pods].map((p) => ({
          ...p,
          metadata: { ...p.metadata, creationTimestamp: new Date(T0) },
          status: { phase: "Pending" },
        })),
        podGroup: {
          ...desiredPodGroup(run, s),
          status: {
            phase: "Pending",
            conditions: [
              { type: "Unschedulable", status: "True", message: "4/0 tasks in gang unschedulable" },
            ],
          },
        },
      },
      T0 + 24 * 3_600_000,
    );
    const sched = plan.status.conditions!.find((c) => c.type === "Scheduled")!;
    expect(sched.reason).toBe("WaitingForQueue");
    expect(sched.message).toMatch(/Volcano queue research; PodGroup Pending: 4\/0 tasks/);
    expect(plan.events.map((e) => e.reason)).not.toContain("Unschedulable");
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it("creates no trainers while the PodGroup API is missing, and says so", () => {
    const run = makeRun(spec);
    const plan = planRun(
      run,
      specOf(run),
      {
        ...objects,
        pods: [],
        podGroupUnavailable: "PodGroup API scheduling.volcano.sh/v1beta1 is not served",
      },
      T0,
    );
    expect(plan.createPods.map((p) => p.metadata!.name)).toEqual(["r1-coordinator-0"]);
    expect(plan.status.conditions!.find((c) => c.type === "Scheduled")).toMatchObject({
      status: "False",
      reason: "PodGroupUnavailable",
    });
    expect(plan.events.map((e) => e.reason)).toContain("PodGroupUnavailable");
    expect(plan.requeueAfterMs).toBeGreaterThan(0);
  });
});

describe("Kueue", () => {
  it("labels every trainer with the queue and one pod group of replicas.max, and leaves the coordinator alone", () => {
    const run = makeRun({ replicas: { min: 2, max: 3 }, scheduling: { queueName: "team-a" } });
    const s = specOf(run);
    for (const i of [0, 1, 2]) {
      const pod = desiredTrainerPod(run, s, i, 0);
      expect(pod.metadata!.labels).toMatchObject({
        "kueue.x-k8s.io/queue-name": "team-a",
        "kueue.x-k8s.io/pod-group-name": "r1",
      });
      expect(pod.metadata!.annotations!["kueue.x-k8s.io/pod-group-total-count"]).toBe("3");
      expect(pod.spec!.schedulerName).toBeUndefined();
    }
    const coord = desiredCoordinatorPod(run, s, 0);
    expect(coord.metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBeUndefined();
  });

  it("takes the queue from the TrainingRun's own kueue.x-k8s.io/queue-name label, as Kueue's jobs do", () => {
    const run = makeRun({}, { "kueue.x-k8s.io/queue-name": "team-b" });
    const pod = desiredTrainerPod(run, specOf(run), 0, 0);
    expect(pod.metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBe("team-b");
    // The spec wins over the label.
    const both = makeRun({ scheduling: { queueName: "team-a" } }, { "kueue.x-k8s.io/queue-name": "team-b" });
    expect(specOf(both).scheduling.queueName).toBe("team-a");
  });

  it("a run created suspended (as Kueue's webhook leaves a job) starts no pods until unsuspended", () => {
    const run = makeRun({ suspend: true, scheduling: { queueName: "team-a" } });
    const plan = planRun(run, specOf(run), { ...objects, pods: [] }, T0);
    expect(plan.createPods).toEqual([]);
    expect(plan.status.phase).toBe("Suspended");
    const admitted = makeRun({ suspend: false, scheduling: { queueName: "team-a" } });
    const next = planRun(
      { ...admitted, status: plan.status },
      specOf(admitted),
      { ...objects, pods: [] },
      T0 + 1000,
    );
    expect(next.createPods.map((p) => p.metadata!.name)).toEqual([
      "r1-coordinator-0",
      "r1-worker-0-0",
      "r1-worker-1-0",
    ]);
  });
});

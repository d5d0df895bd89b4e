// Which queue a run's trainers go to and what they carry for it (scheduler-handoff.ts), and what
// the TrainingRun and the controller fill into a spec that is silent (spec-defaults.ts).
import { describe, expect, it } from "vitest";
import { parseRunSpec } from "../../../common/spec/index.js";
import {
  defersScheduling,
  gangMetadata,
  kueueQueue,
  usesVolcano,
} from "../../../controller/k8s/scheduler-handoff.js";
import { withDefaultNats, withRunQueueLabel } from "../../../controller/k8s/spec-defaults.js";
import type { TrainingRunObject } from "../../../controller/k8s/index.js";

function makeRun(spec: Record<string, unknown> = {}, labels?: Record<string, string>): TrainingRunObject {
  return {
    apiVersion: "radfleet.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name: "r1", namespace: "ml", uid: "uid-1", generation: 1, labels },
    spec,
  };
}
const specOf = (run: TrainingRunObject) => parseRunSpec(run.spec).spec;

describe("scheduler hand-off", () => {
  it("no queue and the default scheduler: radfleet's own gang timeout applies, no metadata", () => {
    const run = makeRun({ replicas: { min: 1, max: 2 } });
    const spec = specOf(run);
    expect(usesVolcano(spec)).toBe(false);
    expect(kueueQueue(spec)).toBeUndefined();
    expect(defersScheduling(spec)).toBe(false);
    expect(gangMetadata(run, spec)).toEqual({ labels: {}, annotations: {} });
  });

  it("a queue name without Volcano is a Kueue LocalQueue: one pod group of replicas.max", () => {
    const run = makeRun({ replicas: { min: 1, max: 3 }, scheduling: { queueName: "team-a" } });
    const spec = specOf(run);
    expect(kueueQueue(spec)).toBe("team-a");
    expect(defersScheduling(spec)).toBe(true);
    expect(gangMetadata(run, spec)).toEqual({
      labels: { "kueue.x-k8s.io/queue-name": "team-a", "kueue.x-k8s.io/pod-group-name": "r1" },
      annotations: { "kueue.x-k8s.io/pod-group-total-count": "3" },
    });
  });

  it("under Volcano the queue name is Volcano's queue, never also Kueue's", () => {
    const run = makeRun({ scheduling: { schedulerName: "volcano", queueName: "research" } });
    const spec = specOf(run);
    expect(usesVolcano(spec)).toBe(true);
    expect(kueueQueue(spec)).toBeUndefined();
    expect(defersScheduling(spec)).toBe(true);
    expect(gangMetadata(run, spec)).toEqual({
      labels: {},
      annotations: {
        "scheduling.k8s.io/group-name": "r1",
        "scheduling.volcano.sh/queue-name": "research",
      },
    });
    const noQueue = makeRun({ scheduling: { schedulerName: "volcano" } });
    expect(gangMetadata(noQueue, specOf(noQueue)).annotations).toEqual({
      "scheduling.k8s.io/group-name": "r1",
    });
  });
});

describe("spec defaults", () => {
  it("takes the Kueue queue from the run's label only when the spec names none and Volcano is not used", () => {
    const label = { "kueue.x-k8s.io/queue-name": "from-label" };
    const labelled = makeRun({}, label);
    expect(withRunQueueLabel(labelled, specOf(labelled)).scheduling.queueName).toBe("from-label");
    const own = makeRun({ scheduling: { queueName: "own" } }, label);
    expect(withRunQueueLabel(own, specOf(own)).scheduling.queueName).toBe("own");
    const volcano = makeRun({ scheduling: { schedulerName: "volcano" } }, label);
    expect(withRunQueueLabel(volcano, specOf(volcano)).scheduling.queueName).toBeUndefined();
    const bare = makeRun();
    const spec = specOf(bare);
    expect(withRunQueueLabel(bare, spec)).toBe(spec);
  });

  it("fills in the controller's NATS only where the spec names none, without changing the input", () => {
    const bare = specOf(makeRun());
    const filled = withDefaultNats(bare, "nats://nats.infra:4222");
    expect(filled.nats.url).toBe("nats://nats.infra:4222");
    expect(bare.nats.url).toBeUndefined();
    const own = specOf(makeRun({ nats: { url: "nats://mine:4222" } }));
    expect(withDefaultNats(own, "nats://nats.infra:4222")).toBe(own);
    expect(withDefaultNats(bare, undefined)).toBe(bare);
  });
});

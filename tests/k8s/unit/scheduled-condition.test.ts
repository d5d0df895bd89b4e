// The Scheduled condition (scheduled-condition.ts): gang placed, PodGroup missing, held by a queue,
// waiting on radfleet's own gang timeout, or Unschedulable once it runs out.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseRunSpec } from "../../../common/spec/index.js";
import { queueState, scheduledCondition } from "../../../controller/k8s/scheduled-condition.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const spec = parseRunSpec({ replicas: { min: 2, max: 3 }, scheduling: { gangTimeoutSeconds: 60 } }).spec;

const bound = (name: string): V1Pod => ({ metadata: { name }, spec: { containers: [], nodeName: "n1" } });
const pending = (name: string, createdMs: number, why?: string): V1Pod => ({
  metadata: { name, creationTimestamp: new Date(createdMs) },
  spec: { containers: [] },
  status: {
    phase: "Pending",
    conditions: why ? [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: why }] : [],
  },
});
const gang = (trainers: V1Pod[], extra: { podGroupMissing?: string; defersToQueue?: boolean } = {}) => ({
  trainers,
  defersToQueue: false,
  ...extra,
});

describe("scheduledCondition", () => {
  it("True once min replicas are bound, whatever else holds", () => {
    const c = scheduledCondition(
      spec,
      gang([bound("a"), bound("b"), pending("c", T0)], { defersToQueue: true }),
      T0,
    );
    expect(c).toEqual({
      status: "True",
      reason: "GangScheduled",
      message: "2 of 3 workers scheduled (min 2)",
      unschedulable: false,
    });
  });

  it("names the missing PodGroup API before anything else", () => {
    const c = scheduledCondition(
      spec,
      gang([], { podGroupMissing: "no PodGroup CRD", defersToQueue: true }),
      T0,
    );
    expect(c).toMatchObject({ status: "False", reason: "PodGroupUnavailable", message: "no PodGroup CRD" });
    expect(c.wakeMs).toBeUndefined();
  });

  it("under a queue, waits without a gang timeout", () => {
    const q = parseRunSpec({ replicas: { min: 2, max: 2 }, scheduling: { queueName: "team-a" } }).spec;
    const c = scheduledCondition(q, gang([pending("a", T0 - 3_600_000)], { defersToQueue: true }), T0);
    expect(c).toEqual({
      status: "False",
      reason: "WaitingForQueue",
      message: "admission deferred to Kueue queue team-a",
      unschedulable: false,
    });
  });

  it("waits until the oldest unbound trainer has waited the gang timeout, then is Unschedulable with the scheduler's reason", () => {
    const trainers = [
      bound("a"),
      pending("b", T0 - 20_000),
      pending("c", T0 - 10_000, "0/3 nodes are available"),
    ];
    const waiting = scheduledCondition(spec, gang(trainers), T0);
    expect(waiting).toEqual({
      status: "False",
      reason: "Waiting",
      message: "1 of min 2 workers scheduled",
      unschedulable: false,
      wakeMs: 40_000,
    });
    const late = scheduledCondition(spec, gang(trainers), T0 + 40_000);
    expect(late).toEqual({
      status: "False",
      reason: "Unschedulable",
      message: "1 of min 2 workers scheduled after 60s: 0/3 nodes are available",
      unschedulable: true,
    });
  });

  it("with no trainer pods yet, waits with nothing to time", () => {
    expect(scheduledCondition(spec, gang([]), T0)).toEqual({
      status: "False",
      reason: "Waiting",
      message: "0 of min 2 workers scheduled",
      unschedulable: false,
    });
  });
});

describe("queueState", () => {
  it("reports Volcano's queue, the PodGroup's phase and its Unschedulable message", () => {
    const v = parseRunSpec({ scheduling: { schedulerName: "volcano", queueName: "research" } }).spec;
    expect(queueState(v, undefined)).toBe("admission deferred to Volcano queue research");
    expect(
      queueState(v, {
        apiVersion: "scheduling.volcano.sh/v1beta1",
        kind: "PodGroup",
        metadata: { name: "r1", namespace: "ml" },
        spec: { minMember: 2 },
        status: {
          phase: "Pending",
          conditions: [{ type: "Unschedulable", status: "True", message: "queue research is full" }],
        },
      }),
    ).toBe("admission deferred to Volcano queue research; PodGroup Pending: queue research is full");
  });
});

// Per-slot decisions of the planner (pod-slots.ts): which pods fill a slot, the back-off, and when
// a slot gets its first pod, waits, or is replaced under the next attempt number.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseRunSpec } from "../../../common/spec/index.js";
import { LABEL_ATTEMPT, LABEL_WORKER } from "../../../controller/k8s/index.js";
import { backoffSeconds, decideSlot, groupSlots, type Slot } from "../../../controller/k8s/pod-slots.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const spec = parseRunSpec({
  restartPolicy: { backoffLimit: 5, initialBackoffSeconds: 2, maxBackoffSeconds: 10 },
}).spec;

function pod(
  name: string,
  index: number,
  attempt: number,
  o: { phase?: string; deleting?: boolean; failedAt?: number } = {},
): V1Pod {
  return {
    metadata: {
      name,
      labels: { [LABEL_WORKER]: String(index), [LABEL_ATTEMPT]: String(attempt) },
      ...(o.deleting ? { deletionTimestamp: new Date(T0) } : {}),
    },
    status: {
      phase: o.phase ?? "Running",
      containerStatuses:
        o.phase === "Failed"
          ? [
              {
                name: "trainer",
                image: "x",
                imageID: "",
                ready: false,
                restartCount: 0,
                state: {
                  terminated: { exitCode: 137, reason: "OOMKilled", finishedAt: new Date(o.failedAt ?? T0) },
                },
              },
            ]
          : [],
    },
  };
}
const byIndex = (p: V1Pod) => p.metadata?.labels?.[LABEL_WORKER];
const ctx = (failedPods: V1Pod[], nowMs: number, forceDeleted: string[] = []) => ({
  spec,
  failedPods,
  forceDeleted: new Set<string | undefined>(forceDeleted),
  nowMs,
  label: "worker 0",
});

describe("groupSlots", () => {
  it("groups by key, separates terminating pods, orders live pods by attempt and tracks the highest attempt", () => {
    const m = groupSlots(
      [
        pod("w0-2", 0, 2),
        pod("w0-0", 0, 0, { phase: "Failed" }),
        pod("w0-3", 0, 3, { deleting: true }),
        pod("w1-0", 1, 0),
        { metadata: { name: "stray" } },
      ],
      byIndex,
    );
    expect([...m.keys()].sort()).toEqual(["0", "1"]);
    const s0 = m.get("0")!;
    expect(s0.live.map((p) => p.metadata!.name)).toEqual(["w0-0", "w0-2"]);
    expect(s0.terminating.map((p) => p.metadata!.name)).toEqual(["w0-3"]);
    expect(s0.maxAttempt).toBe(3);
    expect(m.get("1")!.maxAttempt).toBe(0);
  });
});

describe("backoffSeconds", () => {
  it("doubles from the initial back-off per earlier failure, capped at the maximum", () => {
    expect([-1, 0, 1, 2, 3, 10].map((n) => backoffSeconds(spec, n))).toEqual([2, 2, 4, 8, 10, 10]);
  });
});

describe("decideSlot", () => {
  it("an empty slot gets attempt 0; a slot whose pods are all gone gets the next attempt", () => {
    expect(decideSlot(undefined, ctx([], T0))).toEqual({
      createAttempt: 0,
      awaitingReplacement: false,
      extraRestart: false,
    });
    const emptied: Slot = { live: [], terminating: [], maxAttempt: 4 };
    expect(decideSlot(emptied, ctx([], T0)).createAttempt).toBe(5);
  });

  it("a healthy pod is left alone", () => {
    const slot = groupSlots([pod("w0-0", 0, 0)], byIndex).get("0");
    expect(decideSlot(slot, ctx([], T0))).toEqual({ awaitingReplacement: false, extraRestart: false });
  });

  it("waits for a terminating pod, and replaces it (counting a restart) once it is force-deleted", () => {
    const slot = groupSlots([pod("w0-1", 0, 1, { deleting: true })], byIndex).get("0");
    expect(decideSlot(slot, ctx([], T0))).toEqual({ awaitingReplacement: true, extraRestart: false });
    const d = decideSlot(slot, ctx([], T0, ["w0-1"]));
    expect(d).toMatchObject({ createAttempt: 2, awaitingReplacement: true, extraRestart: true });
    expect(d.replacedMessage).toMatch(/^worker 0: pod stuck Terminating past the grace period/);
  });

  it("replaces a failed pod only after the back-off for the run's failures so far", () => {
    const failed = pod("w0-0", 0, 0, { phase: "Failed", failedAt: T0 });
    const other = pod("w1-0", 1, 0, { phase: "Failed", failedAt: T0 });
    const slot = groupSlots([failed], byIndex).get("0");
    // Two failures in the run: back-off 2 * 2^1 = 4 s.
    const early = decideSlot(slot, ctx([other, failed], T0 + 1000));
    expect(early).toEqual({ awaitingReplacement: true, extraRestart: false, wakeMs: 3000 });
    const due = decideSlot(slot, ctx([other, failed], T0 + 4000));
    expect(due).toMatchObject({ createAttempt: 1, awaitingReplacement: true, extraRestart: false });
    expect(due.replacedMessage).toBe(
      "worker 0: pod w0-0 failed (OOMKilled (exit 137)); replaced after 4s back-off (failure 2 of 5 allowed)",
    );
  });
});

// The status fields written the same way from any phase (run-status.ts): condition transitions and
// the progress columns kubectl shows.
import { describe, expect, it } from "vitest";
import { applyProgress, formatDuration, setCondition } from "../../../controller/k8s/run-status.js";
import type { RunCondition, TrainingRunStatus } from "../../../controller/k8s/index.js";

describe("setCondition", () => {
  it("appends a new condition and replaces an existing one in place", () => {
    const list: RunCondition[] = [];
    setCondition(list, "Running", "False", "Waiting", "0 ready", "t1", 1);
    setCondition(list, "Scheduled", "True", "GangScheduled", "2 of 2", "t1", 1);
    setCondition(list, "Running", "True", "WorkersReady", "2 ready", "t2", 2);
    expect(list.map((c) => c.type)).toEqual(["Running", "Scheduled"]);
    expect(list[0]).toEqual({
      type: "Running",
      status: "True",
      reason: "WorkersReady",
      message: "2 ready",
      lastTransitionTime: "t2",
      observedGeneration: 2,
    });
  });

  it("keeps the transition time while the status holds, even when reason and message change", () => {
    const list: RunCondition[] = [];
    setCondition(list, "Scheduled", "False", "Waiting", "0 of 2", "t1", 1);
    setCondition(list, "Scheduled", "False", "Unschedulable", "timed out", "t2", 1);
    expect(list[0]).toMatchObject({ reason: "Unschedulable", lastTransitionTime: "t1" });
    setCondition(list, "Scheduled", "True", "GangScheduled", "2 of 2", "t3", 1);
    expect(list[0].lastTransitionTime).toBe("t3");
  });
});

describe("formatDuration", () => {
  it("uses the two largest units, rounding to whole seconds and never negative", () => {
    expect(formatDuration(-5)).toBe("0s");
    expect(formatDuration(59.4)).toBe("59s");
    expect(formatDuration(61)).toBe("1m01s");
    expect(formatDuration(3 * 3600 + 5 * 60 + 9)).toBe("3h05m");
  });
});

describe("applyProgress", () => {
  const T0 = Date.parse("2026-01-01T00:00:00Z");

  it("fills step, percentage, loss and an ETA extrapolated from the time since start", () => {
    const st: TrainingRunStatus = { startTime: new Date(T0).toISOString(), restarts: 2 };
    applyProgress(
      st,
      {
        step: 25,
        totalSteps: 100,
        loss: 1.234567,
        generation: 3,
        worldSize: 4,
        restarts: 1,
        lastCheckpoint: { step: 20, uri: "file:///c/20", time: "t" },
        evaluation: { rougeL: 0.2 },
      },
      T0 + 100_000,
    );
    expect(st).toMatchObject({
      step: 25,
      totalSteps: 100,
      progress: "25%",
      eta: "5m00s",
      loss: "1.2346",
      generation: 3,
      worldSize: 4,
      // The controller's own count of failed pods is not lowered by the coordinator's.
      restarts: 2,
      lastCheckpoint: { step: 20, uri: "file:///c/20", time: "t" },
      evaluation: { rougeL: 0.2 },
    });
  });

  it("ETA 0s when done, no ETA before the first step, non-finite losses as text, nothing without progress", () => {
    const done: TrainingRunStatus = {};
    applyProgress(done, { step: 10, totalSteps: 10, loss: NaN }, T0);
    expect(done).toMatchObject({ progress: "100%", eta: "0s", loss: "NaN" });
    const first: TrainingRunStatus = { startTime: new Date(T0).toISOString() };
    applyProgress(first, { step: 0, totalSteps: 10 }, T0 + 5000);
    expect(first.eta).toBeUndefined();
    const none: TrainingRunStatus = { step: 3 };
    applyProgress(none, undefined, T0);
    expect(none).toEqual({ step: 3 });
  });
});

// Progress fan-out (controller/coordinator/progress-board.ts): the latest report per worker, and
// the run events a report implies. Only rank 0 of the running generation speaks for the run.
import { describe, expect, it } from "vitest";
import type { WorkerProgress } from "../../common/progress.js";
import { ProgressBoard } from "../../controller/coordinator/progress-board.js";

const report = (workerId: string, step: number, extra: Partial<WorkerProgress> = {}): WorkerProgress => ({
  workerId,
  generation: 1,
  step,
  totalSteps: 100,
  loss: 2,
  lmLoss: 1.5,
  clsLoss: 0.5,
  learningRate: 1e-4,
  samplesPerSecond: 3,
  phase: "",
  message: "",
  evaluation: {},
  atUnixMs: step,
  ...extra,
});

function board(ranks: Record<string, number>) {
  const events: [string, Record<string, unknown>][] = [];
  const b = new ProgressBoard({
    rankOf: (w) => ranks[w],
    publish: (type, payload) => events.push([type, payload]),
  });
  return { b, events };
}

describe("ProgressBoard", () => {
  it("keeps each worker's latest report and hands every report to listeners", () => {
    const { b } = board({ a: 0, b: 1 });
    const heard: number[] = [];
    const off = b.onProgress((p) => heard.push(p.step));
    b.report(report("a", 1));
    b.report(report("b", 1));
    b.report(report("a", 2));
    off();
    b.report(report("a", 3));
    expect(heard).toEqual([1, 1, 2]);
    expect(b.all().map((p) => [p.workerId, p.step])).toEqual([
      ["a", 3],
      ["b", 1],
    ]);
  });

  it("publishes rank 0's progress, and the run's phase only when rank 0's phase changes", () => {
    const { b, events } = board({ a: 0, b: 1 });
    b.report(report("a", 1, { phase: "training", message: "warming up" }));
    b.report(report("a", 2, { phase: "training" }));
    b.report(report("b", 2, { phase: "evaluating" })); // not rank 0: no phase, no progress event
    b.report(report("a", 3, { phase: "" })); // empty: unchanged
    b.report(report("a", 4, { phase: "evaluating", message: "eval at step 4" }));
    expect(events.filter(([t]) => t === "progress").map(([, p]) => p.step)).toEqual([1, 2, 3, 4]);
    expect(events.filter(([t]) => t === "run_phase").map(([, p]) => p)).toEqual([
      { phase: "training", step: 1, message: "warming up" },
      { phase: "evaluating", step: 4, message: "eval at step 4" },
    ]);
  });

  it("publishes a completed evaluation from any worker; a worker outside the generation sets no phase", () => {
    const { b, events } = board({ a: 0 });
    b.report(report("late", 9, { phase: "finished", evaluation: { rougeL: 0.25 } }));
    expect(events).toEqual([
      ["evaluation_completed", { workerId: "late", step: 9, generation: 1, metrics: { rougeL: 0.25 } }],
    ]);
  });
});

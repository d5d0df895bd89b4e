import { describe, expect, it } from "vitest";
import { ProgressDisplay, formatDuration } from "../../cli/run-progress.js";

const snap = {
  step: 10,
  totalSteps: 40,
  loss: 2.5,
  lmLoss: 2.1,
  clsLoss: 0.8,
  samplesPerSecond: 12.5,
  generation: 1,
  worldSize: 2,
  restarts: 0,
  lastCheckpointStep: 8,
  lastEval: "ROUGE-L 0.120",
  phase: "training",
};

describe("live progress", () => {
  it("redraws a block in place on a terminal", () => {
    const out: string[] = [];
    const d = new ProgressDisplay({ isTTY: true, write: (s: string) => out.push(s) });
    d.update(snap);
    d.update({ ...snap, step: 11 });
    expect(out[0]).toContain("step 10/40 (25%)");
    expect(out[0]).toContain("lm 2.1000  cls 0.8000  12.5 samples/s");
    expect(out[0]).toContain("checkpoint 8  eval ROUGE-L 0.120");
    expect(out[1].startsWith("\x1b[2F")).toBe(true); // cursor back over the two lines
  });

  it("degrades to plain, rate-limited lines when not a terminal", () => {
    const out: string[] = [];
    const d = new ProgressDisplay({ isTTY: false, write: (s: string) => out.push(s) }, 60_000);
    d.update(snap);
    d.update({ ...snap, step: 11 }); // within the interval: suppressed
    d.update({ ...snap, step: 12 }, true); // forced
    expect(out).toHaveLength(2);
    expect(out.join("")).not.toContain("\x1b");
    expect(out[1]).toContain("step 12/40");
  });

  it("formats durations", () => {
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(125)).toBe("2m05s");
    expect(formatDuration(3 * 3600 + 7 * 60)).toBe("3h07m");
    expect(formatDuration(NaN)).toBe("—");
  });
});

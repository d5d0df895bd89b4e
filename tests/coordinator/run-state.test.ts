// The run's saved state (controller/coordinator/run-state.ts): every change reaches the store,
// restarts are counted, and only the newest committed checkpoints are kept.
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import type { PersistedRunState } from "../../controller/coordinator/persisted-state.js";
import { RunState } from "../../controller/coordinator/run-state.js";

const ck = (step: number, generation = 1) => ({ step, generation, parts: [], committedAtUnixMs: step });

function runState(keepCheckpoints = 2) {
  const saved: PersistedRunState[] = [];
  // A copy: the store must see the state as it was at each save.
  const s = new RunState({
    runId: "r",
    keepCheckpoints,
    log: silentLogger,
    save: async (x) => void saved.push(structuredClone(x)),
  });
  return { s, saved };
}

describe("RunState", () => {
  it("numbers generations from 1 and saves each start", () => {
    const { s, saved } = runState();
    expect(s.generation).toBe(0);
    expect(s.nextGeneration()).toBe(1);
    expect(s.nextGeneration()).toBe(2);
    expect(saved.map((x) => x.generation)).toEqual([1, 2]);
  });

  it("keeps the newest keepCheckpoints commits and lists them newest first", () => {
    const { s, saved } = runState(2);
    expect(s.latestCheckpoint()).toBeNull();
    for (const step of [10, 20, 30]) s.recordCommitted(ck(step));
    expect(s.latestCheckpoint()?.step).toBe(30);
    expect(s.listCheckpoints().map((c) => c.step)).toEqual([30, 20]);
    expect(saved.at(-1)!.checkpoints.map((c) => c.step)).toEqual([20, 30]);
  });

  it("a restored state counts one more restart and is saved back at once", () => {
    const { s, saved } = runState();
    s.restore({ runId: "r", generation: 5, restartCount: 2, checkpoints: [ck(40)] });
    expect([s.generation, s.restarts]).toEqual([5, 3]);
    expect(s.nextGeneration()).toBe(6);
    expect(saved[0]).toEqual({ runId: "r", generation: 5, restartCount: 3, checkpoints: [ck(40)] });
  });

  it("merging a late-read saved state keeps the higher counters and the checkpoints of both", () => {
    const { s, saved } = runState(3);
    s.nextGeneration();
    s.recordCommitted(ck(50, 1));
    s.merge({ runId: "r", generation: 4, restartCount: 1, checkpoints: [ck(30), ck(40)] });
    expect([s.generation, s.restarts]).toEqual([4, 2]);
    expect(s.listCheckpoints().map((c) => c.step)).toEqual([50, 40, 30]);
    // Nothing saved elsewhere: this coordinator's own state is saved all the same.
    const before = saved.length;
    s.merge(null);
    expect(saved).toHaveLength(before + 1);
    expect(saved.at(-1)).toEqual(s.snapshot());
  });
});

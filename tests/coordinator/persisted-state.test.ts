// Reading back a saved run state (KV or the state file): what an earlier coordinator wrote is
// trusted only when it is this run's state with the expected shape.
import { describe, expect, it } from "vitest";
import {
  mergeRunStates,
  parsePersistedState,
  type PersistedRunState,
} from "../../controller/coordinator/persisted-state.js";

const sha = "a".repeat(64);
const saved = {
  runId: "r",
  generation: 3,
  restartCount: 1,
  checkpoints: [
    {
      step: 10,
      generation: 2,
      parts: [{ name: "adapter", uri: "/ck/10/adapter", size: 12, sha256: sha }],
      committedAtUnixMs: 1234,
    },
  ],
};

describe("parsePersistedState", () => {
  it("reads back what JSON.stringify of a state wrote", () => {
    const text = JSON.stringify(saved);
    expect(parsePersistedState(JSON.parse(text), "r")).toEqual(saved);
  });

  it("refuses another run's state, a non-object and missing counters", () => {
    expect(parsePersistedState(saved, "other")).toBeNull();
    expect(parsePersistedState("text", "r")).toBeNull();
    expect(parsePersistedState(null, "r")).toBeNull();
    expect(parsePersistedState({ ...saved, generation: "3" }, "r")).toBeNull();
    expect(parsePersistedState({ ...saved, checkpoints: {} }, "r")).toBeNull();
  });

  it("refuses the whole state when one checkpoint is malformed", () => {
    const bad = { ...saved, checkpoints: [...saved.checkpoints, { step: 20, generation: 2 }] };
    expect(parsePersistedState(bad, "r")).toBeNull();
  });

  it("coerces part fields and defaults a missing commit time (older coordinators)", () => {
    const old = {
      ...saved,
      checkpoints: [{ step: 5, generation: 1, parts: [{ name: "a", uri: "u", size: "7", sha256: sha }] }],
    };
    expect(parsePersistedState(old, "r")!.checkpoints).toEqual([
      {
        step: 5,
        generation: 1,
        parts: [{ name: "a", uri: "u", size: 7, sha256: sha }],
        committedAtUnixMs: 0,
      },
    ]);
  });
});

describe("mergeRunStates", () => {
  it("keeps only the newest `keep` checkpoints, ordered by step", () => {
    const ck = (step: number) => ({ step, generation: 1, parts: [], committedAtUnixMs: step });
    const a: PersistedRunState = {
      runId: "r",
      generation: 1,
      restartCount: 0,
      checkpoints: [ck(30), ck(10)],
    };
    const b: PersistedRunState = { runId: "r", generation: 1, restartCount: 0, checkpoints: [ck(20)] };
    expect(mergeRunStates(a, b, 2)!.checkpoints.map((c) => c.step)).toEqual([20, 30]);
    expect(mergeRunStates(null, null, 2)).toBeNull();
  });
});

// What a run has done so far, as a checkpoint restores it: the unit the step advances, evaluation
// tunes and checkpointing saves. Passed explicitly to each of them; nothing else holds it.
import type { SamplerState } from "../../data/index.js";
import { defaultThresholds } from "../../findings/index.js";
import { newAdamWState, type AdamWState } from "../../optim/index.js";

export interface RunState {
  /** Optimizer steps completed. */
  step: number;
  /** The data cursor after the last step. */
  sampler: SamplerState;
  opt: AdamWState;
  nonFiniteInARow: number;
  /** The head's per-observation thresholds for findings tables (tuned at each evaluation). */
  thresholds: number[];
}

/** The state of a run that starts from scratch. */
export function freshRunState(seed: number, parameterCount: number): RunState {
  return {
    step: 0,
    sampler: { seed, epoch: 0, consumed: 0 },
    opt: newAdamWState(parameterCount),
    nonFiniteInARow: 0,
    thresholds: defaultThresholds(),
  };
}

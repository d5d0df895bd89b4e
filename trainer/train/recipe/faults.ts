// Fault injection for the failure tests (RADFLEET_INJECT_NONFINITE / RADFLEET_INJECT_DIVERGENCE,
// parsed by the trainer's entry point): hooks the step calls at two fixed points. Without a schedule
// they do nothing, so the step carries no test-only branches.

/** Where a step is: its 0-based optimizer step (before it completes) and this process's rank. */
export interface StepPoint {
  step: number;
  rank: number;
}

export interface FaultHooks {
  /** This rank's contribution just before the all-reduce: the gradients, then the losses and stop flag. */
  beforeAllReduce(local: Float32Array, at: StepPoint): void;
  /** The updated parameters just before they are written back into the model. */
  afterUpdate(params: Float32Array, at: StepPoint): void;
}

/** A fault fires on `rank` at each of `steps` (0-based optimizer steps). */
export interface FaultSchedule {
  rank: number;
  steps: number[];
}

export const NO_FAULTS: FaultHooks = { beforeAllReduce() {}, afterUpdate() {} };

export function injectedFaults(schedule: {
  /** A NaN in the local gradients, as an overflow would leave them: the sum spreads it to every rank. */
  nonFinite?: FaultSchedule;
  /** One parameter nudged by 1e-3 on one replica after its update: a silent divergence. */
  divergence?: FaultSchedule;
}): FaultHooks {
  const fires = (s: FaultSchedule | undefined, at: StepPoint): boolean =>
    s !== undefined && s.rank === at.rank && s.steps.includes(at.step);
  return {
    beforeAllReduce(local, at) {
      if (fires(schedule.nonFinite, at)) local[0] = NaN;
    },
    afterUpdate(params, at) {
      if (fires(schedule.divergence, at)) params[0] += 1e-3;
    },
  };
}

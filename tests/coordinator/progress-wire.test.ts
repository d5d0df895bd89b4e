// The one progress type across the wire: what the worker side converts to a ReportProgressRequest,
// encoded and decoded by the real proto service definition, reads back on the coordinator side as
// the same report (common/proto/progress.ts, both directions).
import { describe, expect, it } from "vitest";
import type { Progress, ProgressUpdate } from "../../common/progress.js";
import {
  fromReportProgressRequest,
  loadCoordinatorProto,
  toReportProgressRequest,
  type ReportProgressRequest__Output,
} from "../../common/proto/index.js";

function overTheWire(workerId: string, generation: number, p: ProgressUpdate) {
  const method = loadCoordinatorProto().radfleet.v1.Coordinator.service.ReportProgress;
  const bytes = method.requestSerialize(toReportProgressRequest(workerId, generation, p));
  const decoded = method.requestDeserialize(bytes) as ReportProgressRequest__Output;
  return { bytes, received: fromReportProgressRequest(decoded) };
}

describe("progress on the wire", () => {
  it("a full report arrives as the coordinator's record of it, field for field", () => {
    const p: Progress = {
      step: 12,
      totalSteps: 100,
      loss: 2.5,
      lmLoss: 2,
      clsLoss: 0.5,
      learningRate: 0.0002,
      samplesPerSecond: 7.25,
      phase: "evaluating",
      message: "eval at step 12",
      evaluation: { rougeL: 0.25, clinical_f1_micro_14: 0.5 },
    };
    expect(overTheWire("w0", 3, p).received).toEqual({ workerId: "w0", generation: 3, ...p });
  });

  it("what a report leaves out arrives as the defaults: 0, empty phase (unchanged), no evaluation", () => {
    expect(overTheWire("w1", 0, { step: 4, loss: 1 }).received).toEqual({
      workerId: "w1",
      generation: 0,
      step: 4,
      totalSteps: 0,
      loss: 1,
      lmLoss: 0,
      clsLoss: 0,
      learningRate: 0,
      samplesPerSecond: 0,
      phase: "",
      message: "",
      evaluation: {},
    });
  });
});

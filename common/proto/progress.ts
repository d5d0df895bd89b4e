// Progress between its domain type (common/progress.ts) and the proto's ReportProgressRequest, in
// both directions, so neither the trainer nor the coordinator handles the generated type.
import type { ProgressUpdate, WorkerProgress } from "../progress.js";
import type {
  ReportProgressRequest,
  ReportProgressRequest__Output,
} from "./generated/radfleet/v1/ReportProgressRequest.js";

/** The request a worker sends; fields it left out go as the proto defaults (0, "", none). */
export function toReportProgressRequest(
  workerId: string,
  generation: number,
  p: ProgressUpdate,
): ReportProgressRequest {
  return {
    workerId,
    generation,
    step: p.step,
    totalSteps: p.totalSteps,
    loss: p.loss,
    lmLoss: p.lmLoss,
    clsLoss: p.clsLoss,
    learningRate: p.learningRate,
    samplesPerSecond: p.samplesPerSecond,
    phase: p.phase ?? "",
    message: p.message ?? "",
    evaluation: p.evaluation,
  };
}

/** The coordinator's record of a received request (the receive time is the coordinator's to add). */
export function fromReportProgressRequest(
  req: ReportProgressRequest__Output,
): Omit<WorkerProgress, "atUnixMs"> {
  return {
    workerId: req.workerId,
    generation: req.generation,
    step: req.step,
    totalSteps: req.totalSteps,
    loss: req.loss,
    lmLoss: req.lmLoss,
    clsLoss: req.clsLoss,
    learningRate: req.learningRate,
    samplesPerSecond: req.samplesPerSecond,
    phase: req.phase,
    message: req.message,
    evaluation: { ...req.evaluation },
  };
}

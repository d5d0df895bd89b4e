// Proto bindings shared by controller and trainer: the run-time loader and the generated types.
// Regenerate the types after editing a .proto: bash common/proto/generate.sh
export { loadCoordinatorProto, LOADER_OPTIONS, PROTO_ROOT } from "./load.js";
export type { CoordinatorClient as CoordinatorGrpcClient } from "./generated/radfleet/v1/Coordinator.js";
export type { CoordinatorHandlers } from "./generated/radfleet/v1/Coordinator.js";
export type { SessionRequest, SessionRequest__Output } from "./generated/radfleet/v1/SessionRequest.js";
export type { SessionEvent, SessionEvent__Output } from "./generated/radfleet/v1/SessionEvent.js";
export type { JoinRequest__Output } from "./generated/radfleet/v1/JoinRequest.js";
export type { JoinResponse, JoinResponse__Output } from "./generated/radfleet/v1/JoinResponse.js";
export type { CheckpointPart, CheckpointPart__Output } from "./generated/radfleet/v1/CheckpointPart.js";
export type {
  CommittedCheckpoint,
  CommittedCheckpoint__Output,
} from "./generated/radfleet/v1/CommittedCheckpoint.js";
export type { ReportProgressRequest__Output } from "./generated/radfleet/v1/ReportProgressRequest.js";
export { toReportProgressRequest, fromReportProgressRequest } from "./progress.js";

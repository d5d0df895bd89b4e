// The run coordinator (one per run, served by the controller): rendezvous in generations,
// failure detection on long-lived session streams, barrier, two-phase checkpoint commit, events and
// run state on NATS. Contract: protos/radfleet/v1/coordinator.proto.
//
//   const c = await startCoordinator({ runId, token, minWorkers, maxWorkers, natsUrl, address: "0.0.0.0:7070" });
//   c.run.generation; c.run.members(); c.run.progress(); c.run.latestCheckpoint();
//   await c.close();
//
// A controller hosting several runs uses startCoordinatorServer() and server.addRun(options).
export { startCoordinator, startCoordinatorServer, RUN_METADATA_KEY, AUTH_METADATA_KEY } from "./server.js";
export type { CoordinatorServer, CoordinatorServerOptions, ServerTls } from "./server.js";
export { resolveOptions, coordinatorOptionsFromSpec } from "./options.js";
export type { CoordinatorOptions, ResolvedCoordinatorOptions } from "./options.js";
export { RunCoordinator } from "./run-coordinator.js";
export type { CommittedCheckpoint, Part } from "./run-coordinator.js";
export type { Member, Placement } from "./rendezvous.js";
export type { WorkerProgress } from "../../common/progress.js";
export { CoordinatorError } from "./errors.js";
export type { CoordinatorErrorCode } from "./errors.js";
export { mergeRunStates, parsePersistedState } from "./persisted-state.js";
export type { PersistedRunState } from "./persisted-state.js";
export { EVENTS_STREAM, eventSubject } from "./nats-bridge.js";
export type { RunEventType } from "./nats-bridge.js";

// The Kubernetes part of radfleet: the TrainingRun controller. Other parts use this surface only.
export { startController, type ControllerOptions, type RunningController } from "./controller.js";
export { Reconciler, podGroupPatch, type ReconcilerDeps, type ReconcileResult } from "./reconciler.js";
export { planRun, type Plan, type Observed, type PlanOptions, type RunEvent } from "./plan.js";
export { backoffSeconds } from "./pod-slots.js";
export { formatDuration } from "./run-status.js";
export { desiredService, desiredConfigMap, desiredSecret, desiredPodGroup } from "./run-objects.js";
export { desiredCoordinatorPod, desiredTrainerPod, type PodTemplateOptions } from "./desired-pods.js";
export { defersScheduling, kueueQueue, usesVolcano } from "./scheduler-handoff.js";
export { withDefaultNats, withRunQueueLabel } from "./spec-defaults.js";
export { ownerReference } from "./owned-meta.js";
export {
  describeError,
  isNotFound,
  isConflict,
  isStatus,
  KubeApiError,
  watchPath,
  type KubeApi,
  type ListResult,
  type WatchEvent,
  type WatchOptions,
  type WatchTarget,
} from "./kube-api.js";
export {
  clientNodeUnsupported,
  connectKubeApi,
  DEFAULT_TRANSPORT,
  parseTransport,
  TRANSPORTS,
  type Transport,
} from "./kube-transport.js";
export { reflect, type ObjectHandler, type ReflectorOptions } from "./reflector.js";
export { scaleQuantity } from "./quantity.js";
export { loadKubeConnection, type KubeConnection } from "./kubeconfig.js";
export { restKubeApi } from "./rest-kube-api.js";
export { leaderElector, type LeaderElector, type LeaderElectionOptions } from "./leader-election.js";
export { natsProgressReader, noProgress, parseProgress, type ProgressReader } from "./progress-reader.js";
export { controllerMetrics, type ControllerMetrics } from "./controller-metrics.js";
export * from "./labels.js";
export type {
  PodGroupObject,
  TrainingRunObject,
  TrainingRunStatus,
  RunCondition,
  RunProgress,
} from "./types.js";

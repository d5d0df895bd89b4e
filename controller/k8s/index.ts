// The Kubernetes part of radfleet: the TrainingRun controller. Other parts use this surface only.
export { startController, type ControllerOptions, type RunningController } from "./controller.js";
export { Reconciler, type ReconcilerDeps, type ReconcileResult } from "./reconciler.js";
export {
  planRun,
  backoffSeconds,
  formatDuration,
  type Plan,
  type Observed,
  type PlanOptions,
  type RunEvent,
} from "./plan.js";
export {
  desiredService,
  desiredConfigMap,
  desiredSecret,
  desiredCoordinatorPod,
  desiredTrainerPod,
  defersScheduling,
  ownerReference,
  type PodTemplateOptions,
} from "./desired-objects.js";
export {
  describeError,
  isNotFound,
  isConflict,
  KubeApiError,
  type KubeApi,
  type WatchEvent,
} from "./kube-api.js";
export { connectKubeApi, type Transport } from "./kube-transport.js";
export { loadKubeConnection, type KubeConnection } from "./kubeconfig.js";
export { restKubeApi } from "./rest-kube-api.js";
export { leaderElector, type LeaderElector, type LeaderElectionOptions } from "./leader-election.js";
export { natsProgressReader, noProgress, parseProgress, type ProgressReader } from "./progress-reader.js";
export { controllerMetrics, type ControllerMetrics } from "./controller-metrics.js";
export * from "./labels.js";
export type { TrainingRunObject, TrainingRunStatus, RunCondition, RunProgress } from "./types.js";

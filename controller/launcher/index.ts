// Launchers start a run's trainers: child processes on this machine (Kubernetes pods are the
// reconciler's, controller/k8s). Restart policy with back-off, grace periods, logs per worker.
export {
  LocalLauncher,
  type LocalLauncherOptions,
  type LauncherEvent,
  type LaunchResult,
  type WorkerCommand,
} from "./local.js";

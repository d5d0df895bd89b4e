// Names, labels and annotations the controller puts on the objects it owns. Deterministic names
// make creation idempotent: a second create of the same object is a 409, not a duplicate.

export const LABEL_RUN = "radfleet.io/run";
export const LABEL_ROLE = "radfleet.io/role";
export const LABEL_WORKER = "radfleet.io/worker-index";
export const LABEL_ATTEMPT = "radfleet.io/attempt";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const MANAGER = "radfleet-controller";
export const FIELD_MANAGER = "radfleet-controller";

export type PodRole = "coordinator" | "trainer";

export const COORDINATOR_PORT = 7070;
export const METRICS_PORT = 9464;
export const SPEC_MOUNT_DIR = "/etc/radfleet";
export const SPEC_FILE = "spec.yaml";

export const serviceName = (run: string): string => run;
export const configMapName = (run: string): string => `${run}-spec`;
export const secretName = (run: string): string => `${run}-token`;
/** A replacement gets a new name (attempt), so a pod stuck Terminating never blocks it. */
export const coordinatorPodName = (run: string, attempt: number): string => `${run}-coordinator-${attempt}`;
export const trainerPodName = (run: string, index: number, attempt: number): string =>
  `${run}-worker-${index}-${attempt}`;
/** Trainer pods' worker ids are this prefix and their index (the coordinator admits only those). */
export const workerIdPrefix = (run: string): string => `${run}-worker-`;
export const workerId = (run: string, index: number): string => `${workerIdPrefix(run)}${index}`;

/** Kueue's plain-Pod integration: the LocalQueue, and the pods admitted together as one group. */
export const KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
export const KUEUE_POD_GROUP_LABEL = "kueue.x-k8s.io/pod-group-name";
export const KUEUE_POD_GROUP_COUNT_ANNOTATION = "kueue.x-k8s.io/pod-group-total-count";
/** Volcano: the PodGroup a pod belongs to, and its queue. */
export const VOLCANO_SCHEDULER = "volcano";
export const VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name";
export const VOLCANO_QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name";
export const podGroupName = (run: string): string => run;

export function runSelector(run: string): string {
  return `${LABEL_RUN}=${run}`;
}

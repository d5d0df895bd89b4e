// What a run's owned objects should look like, computed from the TrainingRun and its parsed
// spec alone. Pure functions: no I/O, so every field can be checked in unit tests.
import type {
  V1ConfigMap,
  V1EnvVar,
  V1OwnerReference,
  V1Pod,
  V1Secret,
  V1Service,
  V1Toleration,
  V1Affinity,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import { resolvedSpecYaml, type RunSpec } from "../../common/spec/index.js";
import { CPU_LIMIT_ENV, trainerEnv } from "../../common/trainer-env.js";
import { scaleQuantity } from "./quantity.js";
import {
  COORDINATOR_PORT,
  KUEUE_POD_GROUP_COUNT_ANNOTATION,
  KUEUE_POD_GROUP_LABEL,
  KUEUE_QUEUE_LABEL,
  VOLCANO_GROUP_ANNOTATION,
  VOLCANO_QUEUE_ANNOTATION,
  VOLCANO_SCHEDULER,
  podGroupName,
  LABEL_ATTEMPT,
  LABEL_MANAGED_BY,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_WORKER,
  MANAGER,
  METRICS_PORT,
  SPEC_FILE,
  SPEC_MOUNT_DIR,
  configMapName,
  coordinatorPodName,
  secretName,
  serviceName,
  trainerPodName,
  workerId,
  workerIdPrefix,
  type PodRole,
} from "./labels.js";
import type { PodGroupObject, TrainingRunObject } from "./types.js";

export interface PodTemplateOptions {
  /** Image for the coordinator pod (the controller's own image by default). */
  coordinatorImage?: string;
  /** Container command prefix; the image's entrypoint is `radfleet`. */
  command?: string[];
  /** Extra trainer/coordinator environment (e.g. NODE_OPTIONS). */
  extraEnv?: Record<string, string>;
}

const CHECKPOINT_DIR = "/var/lib/radfleet/checkpoints";
/** Trainer pods get 60 s to stop; the coordinator serves a little longer than that. */
const TRAINER_GRACE_SECONDS = 60;
const COORDINATOR_DRAIN_SECONDS = TRAINER_GRACE_SECONDS + 10;
const DATA_DIR = "/var/lib/radfleet/data";
const RUN_DIR = "/var/lib/radfleet/run";

export function ownerReference(run: TrainingRunObject): V1OwnerReference {
  return {
    apiVersion: run.apiVersion,
    kind: run.kind,
    name: run.metadata.name,
    uid: run.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function baseLabels(run: TrainingRunObject, role?: PodRole): Record<string, string> {
  const l: Record<string, string> = {
    [LABEL_RUN]: run.metadata.name,
    [LABEL_MANAGED_BY]: MANAGER,
    "app.kubernetes.io/name": "radfleet",
  };
  if (role) l[LABEL_ROLE] = role;
  return l;
}

function meta(run: TrainingRunObject, name: string, role?: PodRole) {
  return {
    name,
    namespace: run.metadata.namespace,
    labels: baseLabels(run, role),
    ownerReferences: [ownerReference(run)],
  };
}

export function desiredService(run: TrainingRunObject): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(run, serviceName(run.metadata.name)),
    spec: {
      clusterIP: "None",
      // Trainers must reach the coordinator while it is starting up, before readiness.
      publishNotReadyAddresses: true,
      selector: { [LABEL_RUN]: run.metadata.name, [LABEL_ROLE]: "coordinator" },
      ports: [
        { name: "grpc", port: COORDINATOR_PORT, targetPort: COORDINATOR_PORT },
        { name: "metrics", port: METRICS_PORT, targetPort: METRICS_PORT },
      ],
    },
  };
}

export function desiredConfigMap(run: TrainingRunObject, spec: RunSpec): V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(run, configMapName(run.metadata.name)),
    data: { [SPEC_FILE]: resolvedSpecYaml(podSpecView(spec)) },
  };
}

/** Inside the pods the checkpoint directory is the mounted PVC, whatever path the user gave. */
function podSpecView(spec: RunSpec): RunSpec {
  if (!spec.scheduling.checkpointVolumeClaim || spec.checkpoint.store.type !== "directory") return spec;
  return {
    ...spec,
    checkpoint: { ...spec.checkpoint, store: { ...spec.checkpoint.store, path: CHECKPOINT_DIR } },
  };
}

export function desiredSecret(run: TrainingRunObject, token: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(run, secretName(run.metadata.name)),
    type: "Opaque",
    stringData: { token },
  };
}

function volumes(run: TrainingRunObject, spec: RunSpec): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const vols: V1Volume[] = [
    { name: "spec", configMap: { name: configMapName(run.metadata.name) } },
    { name: "run", emptyDir: {} },
    // The root filesystem is read-only; tsx and TensorFlow.js need a writable /tmp.
    { name: "tmp", emptyDir: {} },
  ];
  const mounts: V1VolumeMount[] = [
    { name: "spec", mountPath: SPEC_MOUNT_DIR, readOnly: true },
    { name: "run", mountPath: RUN_DIR },
    { name: "tmp", mountPath: "/tmp" },
  ];
  if (spec.scheduling.dataVolumeClaim) {
    vols.push({
      name: "data",
      persistentVolumeClaim: { claimName: spec.scheduling.dataVolumeClaim, readOnly: true },
    });
    mounts.push({ name: "data", mountPath: DATA_DIR, readOnly: true });
  }
  if (spec.scheduling.checkpointVolumeClaim) {
    vols.push({
      name: "checkpoints",
      persistentVolumeClaim: { claimName: spec.scheduling.checkpointVolumeClaim },
    });
    mounts.push({ name: "checkpoints", mountPath: CHECKPOINT_DIR });
  }
  return { volumes: vols, mounts };
}

const securityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  seccompProfile: { type: "RuntimeDefault" },
};
const containerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

function tokenEnv(run: TrainingRunObject): V1EnvVar {
  return {
    name: "RADFLEET_TOKEN",
    valueFrom: { secretKeyRef: { name: secretName(run.metadata.name), key: "token" } },
  };
}

/** Volcano gang-schedules the trainers through a PodGroup the controller owns. */
export const usesVolcano = (spec: RunSpec): boolean => spec.scheduling.schedulerName === VOLCANO_SCHEDULER;

/**
 * The Kueue LocalQueue the trainers are submitted to. With Volcano, `scheduling.queueName` names
 * the Volcano Queue instead: the two queueing systems are alternatives, never stacked.
 */
export const kueueQueue = (spec: RunSpec): string | undefined =>
  usesVolcano(spec) ? undefined : spec.scheduling.queueName;

/**
 * Kueue's convention is the queue label on the workload object itself; a TrainingRun labelled
 * `kueue.x-k8s.io/queue-name` and no `scheduling.queueName` gets that queue.
 */
/** The controller's NATS (the chart's nats.url) for a run whose spec names none. */
export function withDefaultNats(spec: RunSpec, defaultNatsUrl: string | undefined): RunSpec {
  if (spec.nats.url || !defaultNatsUrl) return spec;
  return { ...spec, nats: { ...spec.nats, url: defaultNatsUrl } };
}

export function withRunQueueLabel(run: TrainingRunObject, spec: RunSpec): RunSpec {
  const label = run.metadata.labels?.[KUEUE_QUEUE_LABEL];
  if (!label || spec.scheduling.queueName !== undefined || usesVolcano(spec)) return spec;
  return { ...spec, scheduling: { ...spec.scheduling, queueName: label } };
}

/**
 * Scheduler hand-off for trainer pods. Kueue (plain-Pod integration): the queue label plus a pod
 * group of all `replicas.max` trainers, so its webhook gates them and it admits them together.
 * Volcano: the PodGroup annotation (and queue), the group itself is desiredPodGroup.
 */
function gangMetadata(run: TrainingRunObject, spec: RunSpec) {
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const kueue = kueueQueue(spec);
  if (kueue) {
    labels[KUEUE_QUEUE_LABEL] = kueue;
    labels[KUEUE_POD_GROUP_LABEL] = run.metadata.name;
    annotations[KUEUE_POD_GROUP_COUNT_ANNOTATION] = String(spec.replicas.max);
  }
  if (usesVolcano(spec)) {
    annotations[VOLCANO_GROUP_ANNOTATION] = podGroupName(run.metadata.name);
    if (spec.scheduling.queueName) annotations[VOLCANO_QUEUE_ANNOTATION] = spec.scheduling.queueName;
  }
  return { labels, annotations };
}

/** True when an external queue (Kueue, Volcano) owns admission and gang timing. */
export function defersScheduling(spec: RunSpec): boolean {
  return kueueQueue(spec) !== undefined || usesVolcano(spec);
}

/** Per-trainer resource requests (also what a PodGroup's minResources is made of). */
function trainerRequests(spec: RunSpec): Record<string, string> {
  const requests: Record<string, string> = { cpu: spec.resources.cpu, memory: spec.resources.memory };
  if (spec.resources.gpusPerWorker > 0) requests["nvidia.com/gpu"] = String(spec.resources.gpusPerWorker);
  return requests;
}

/**
 * Volcano's PodGroup for the trainers: Volcano binds none of them until `minMember` fit at once
 * (and `minResources` are free in the queue). The coordinator is not a member: it is one small
 * CPU pod on the default scheduler, and counting it would let Volcano start min-1 trainers.
 */
export function desiredPodGroup(run: TrainingRunObject, spec: RunSpec): PodGroupObject {
  const min = spec.replicas.min;
  const minResources = Object.fromEntries(
    Object.entries(trainerRequests(spec)).map(([k, v]) => [k, scaleQuantity(v, min)]),
  );
  return {
    apiVersion: "scheduling.volcano.sh/v1beta1",
    kind: "PodGroup",
    metadata: meta(run, podGroupName(run.metadata.name)),
    spec: {
      minMember: min,
      minResources,
      ...(spec.scheduling.queueName ? { queue: spec.scheduling.queueName } : {}),
      ...(spec.scheduling.priorityClassName ? { priorityClassName: spec.scheduling.priorityClassName } : {}),
    },
  };
}

function podShell(
  run: TrainingRunObject,
  spec: RunSpec,
  name: string,
  role: PodRole,
  extraLabels: Record<string, string>,
): V1Pod {
  const gang = role === "trainer" ? gangMetadata(run, spec) : { labels: {}, annotations: {} };
  const { volumes: vols } = volumes(run, spec);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...meta(run, name, role),
      labels: { ...baseLabels(run, role), ...extraLabels, ...gang.labels },
      annotations: {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": String(METRICS_PORT),
        ...gang.annotations,
      },
    },
    spec: {
      restartPolicy: "Never",
      // Trainers write a final checkpoint on SIGTERM (suspend, eviction); give them time.
      terminationGracePeriodSeconds: TRAINER_GRACE_SECONDS,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext,
      nodeSelector: Object.keys(spec.scheduling.nodeSelector).length
        ? spec.scheduling.nodeSelector
        : undefined,
      tolerations: spec.scheduling.tolerations as V1Toleration[],
      affinity: spec.scheduling.affinity as V1Affinity | undefined,
      priorityClassName: spec.scheduling.priorityClassName,
      // Under Volcano only the trainers are gang members (see desiredPodGroup).
      schedulerName: role === "coordinator" && usesVolcano(spec) ? undefined : spec.scheduling.schedulerName,
      subdomain: serviceName(run.metadata.name),
      volumes: vols,
      containers: [],
    },
  };
}

export function desiredCoordinatorPod(
  run: TrainingRunObject,
  spec: RunSpec,
  attempt: number,
  opts: PodTemplateOptions = {},
): V1Pod {
  const name = run.metadata.name;
  const pod = podShell(run, spec, coordinatorPodName(name, attempt), "coordinator", {
    [LABEL_ATTEMPT]: String(attempt),
  });
  const { mounts } = volumes(run, spec);
  pod.spec!.hostname = "coordinator";
  // It drains after SIGTERM while the trainers (60 s grace) commit their final checkpoint.
  pod.spec!.terminationGracePeriodSeconds = COORDINATOR_DRAIN_SECONDS + 10;
  pod.spec!.containers = [
    {
      name: "coordinator",
      image: opts.coordinatorImage ?? spec.scheduling.image,
      command: [
        ...(opts.command ?? ["radfleet"]),
        "coordinator",
        "--run",
        name,
        "--spec",
        `${SPEC_MOUNT_DIR}/${SPEC_FILE}`,
        "--port",
        String(COORDINATOR_PORT),
        "--metrics-port",
        String(METRICS_PORT),
        // Only this run's trainer pods may join.
        "--worker-id-prefix",
        workerIdPrefix(name),
        "--drain-seconds",
        String(COORDINATOR_DRAIN_SECONDS),
        // With a checkpoint volume the run state lives beside the checkpoints, so a coordinator
        // pod replaced (or a run suspended and resumed) without NATS still knows its commits.
        ...(spec.scheduling.checkpointVolumeClaim
          ? ["--state-file", `${CHECKPOINT_DIR}/run-state.json`]
          : []),
      ],
      env: [
        { name: "RADFLEET_RUN_ID", value: name },
        tokenEnv(run),
        ...Object.entries(opts.extraEnv ?? {}).map(([k, v]) => ({ name: k, value: v })),
      ],
      ports: [
        { name: "grpc", containerPort: COORDINATOR_PORT },
        { name: "metrics", containerPort: METRICS_PORT },
      ],
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
      securityContext: containerSecurity,
      volumeMounts: mounts,
    },
  ];
  return pod;
}

export function desiredTrainerPod(
  run: TrainingRunObject,
  spec: RunSpec,
  index: number,
  attempt: number,
  opts: PodTemplateOptions = {},
): V1Pod {
  const name = run.metadata.name;
  const pod = podShell(run, spec, trainerPodName(name, index, attempt), "trainer", {
    [LABEL_WORKER]: String(index),
    [LABEL_ATTEMPT]: String(attempt),
  });
  const { mounts } = volumes(run, spec);
  // The shared env contract, then the two values only the pod knows (token, own IP).
  const plain = trainerEnv({
    runId: name,
    workerId: workerId(name, index),
    coordinator: `${serviceName(name)}:${COORDINATOR_PORT}`,
    token: "",
    specPath: `${SPEC_MOUNT_DIR}/${SPEC_FILE}`,
    runDir: RUN_DIR,
    metricsPort: METRICS_PORT,
    advertiseHost: "",
  });
  const env: V1EnvVar[] = [];
  for (const [k, v] of Object.entries(plain)) {
    if (k === "RADFLEET_TOKEN") env.push(tokenEnv(run));
    else if (k === "RADFLEET_ADVERTISE_HOST")
      env.push({ name: k, valueFrom: { fieldRef: { fieldPath: "status.podIP" } } });
    else env.push({ name: k, value: v });
  }
  // The tensor engine sizes its thread pool to the cores the scheduler reserved for the pod (its
  // CPU request, spec.resources.cpu, rounded up to whole cores by the downward API). Trainer pods
  // set no CPU limit, and limits.cpu would then read as the whole node: every trainer on it would
  // size its pool to all of its cores.
  env.push({
    name: CPU_LIMIT_ENV,
    valueFrom: { resourceFieldRef: { containerName: "trainer", resource: "requests.cpu", divisor: "1" } },
  });
  for (const [k, v] of Object.entries(opts.extraEnv ?? {})) env.push({ name: k, value: v });
  const requests = trainerRequests(spec);
  const limits: Record<string, string> = { memory: spec.resources.memory };
  if (spec.resources.gpusPerWorker > 0) limits["nvidia.com/gpu"] = String(spec.resources.gpusPerWorker);
  pod.spec!.containers = [
    {
      name: "trainer",
      image: spec.scheduling.image,
      command: [...(opts.command ?? ["radfleet"]), "trainer"],
      env,
      ports: [{ name: "metrics", containerPort: METRICS_PORT }],
      resources: { requests, limits },
      securityContext: containerSecurity,
      volumeMounts: mounts,
    },
  ];
  return pod;
}

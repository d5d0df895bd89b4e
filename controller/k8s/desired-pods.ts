// The pods a run should have: the coordinator and one trainer per replica index, each attempt under
// its own name. Computed from the TrainingRun and its parsed spec alone (no I/O), so every field
// can be checked in unit tests: env contract, volumes, security, resources, scheduler hand-off.
import type {
  V1Affinity,
  V1EnvVar,
  V1Pod,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { RunSpec } from "../../common/spec/index.js";
import { CPU_LIMIT_ENV, trainerEnv } from "../../common/trainer-env.js";
import {
  COORDINATOR_PORT,
  LABEL_ATTEMPT,
  LABEL_WORKER,
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
import { ownedMeta, runLabels } from "./owned-meta.js";
import { gangMetadata, usesVolcano } from "./scheduler-handoff.js";
import type { TrainingRunObject } from "./types.js";

export interface PodTemplateOptions {
  /** Image for the coordinator pod (the controller's own image by default). */
  coordinatorImage?: string;
  /** Container command prefix; the image's entrypoint is `radfleet`. */
  command?: string[];
  /** Extra trainer/coordinator environment (e.g. NODE_OPTIONS). */
  extraEnv?: Record<string, string>;
}

/** Where the checkpoint volume is mounted in every pod (and so the checkpoint path the pods see). */
export const CHECKPOINT_DIR = "/var/lib/radfleet/checkpoints";
/** Trainer pods get 60 s to stop; the coordinator serves a little longer than that. */
const TRAINER_GRACE_SECONDS = 60;
const COORDINATOR_DRAIN_SECONDS = TRAINER_GRACE_SECONDS + 10;
const DATA_DIR = "/var/lib/radfleet/data";
const RUN_DIR = "/var/lib/radfleet/run";
/** The decoded-image cache when the spec names none: in the run directory's emptyDir, writable. */
export const IMAGE_CACHE_DIR = `${RUN_DIR}/image-cache`;

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

/** Per-trainer resource requests (also what a PodGroup's minResources is made of). */
export function trainerRequests(spec: RunSpec): Record<string, string> {
  const requests: Record<string, string> = { cpu: spec.resources.cpu, memory: spec.resources.memory };
  if (spec.resources.gpusPerWorker > 0) requests["nvidia.com/gpu"] = String(spec.resources.gpusPerWorker);
  return requests;
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
      ...ownedMeta(run, name, role),
      labels: { ...runLabels(run, role), ...extraLabels, ...gang.labels },
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
      // A failed trainer's last log lines become its termination message, which the run's Failed
      // condition quotes (a permanent failure says why without kubectl logs).
      terminationMessagePolicy: "FallbackToLogsOnError",
    },
  ];
  return pod;
}

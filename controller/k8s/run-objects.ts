// The objects a run owns besides its pods, computed from the TrainingRun and its parsed spec alone:
// the headless service the trainers reach the coordinator through, the spec ConfigMap the pods
// mount, the token Secret, and (under Volcano) the trainers' PodGroup.
import type { V1ConfigMap, V1Secret, V1Service } from "@kubernetes/client-node";
import { resolvedSpecYaml, type RunSpec } from "../../common/spec/index.js";
import { CHECKPOINT_DIR, IMAGE_CACHE_DIR, trainerRequests } from "./desired-pods.js";
import {
  COORDINATOR_PORT,
  LABEL_ROLE,
  LABEL_RUN,
  METRICS_PORT,
  SPEC_FILE,
  configMapName,
  podGroupName,
  secretName,
  serviceName,
} from "./labels.js";
import { ownedMeta } from "./owned-meta.js";
import { scaleQuantity } from "./quantity.js";
import type { PodGroupObject, TrainingRunObject } from "./types.js";

export function desiredService(run: TrainingRunObject): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: ownedMeta(run, serviceName(run.metadata.name)),
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
    metadata: ownedMeta(run, configMapName(run.metadata.name)),
    data: { [SPEC_FILE]: resolvedSpecYaml(podSpecView(spec)) },
  };
}

/**
 * The spec as the pods see it. The checkpoint directory is the mounted PVC, whatever path the user
 * gave. The decoded-image cache defaults to a folder inside the data set, which in a pod is a
 * read-only volume (or image layer): unless the spec names one, it goes to the pod's writable run
 * directory (an emptyDir, so each pod decodes its images once).
 */
function podSpecView(spec: RunSpec): RunSpec {
  let view = spec;
  if (spec.scheduling.checkpointVolumeClaim && spec.checkpoint.store.type === "directory")
    view = {
      ...view,
      checkpoint: { ...view.checkpoint, store: { ...view.checkpoint.store, path: CHECKPOINT_DIR } },
    };
  if (view.data.cacheDir === undefined) view = { ...view, data: { ...view.data, cacheDir: IMAGE_CACHE_DIR } };
  return view;
}

export function desiredSecret(run: TrainingRunObject, token: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMeta(run, secretName(run.metadata.name)),
    type: "Opaque",
    stringData: { token },
  };
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
    metadata: ownedMeta(run, podGroupName(run.metadata.name)),
    spec: {
      minMember: min,
      minResources,
      ...(spec.scheduling.queueName ? { queue: spec.scheduling.queueName } : {}),
      ...(spec.scheduling.priorityClassName ? { priorityClassName: spec.scheduling.priorityClassName } : {}),
    },
  };
}

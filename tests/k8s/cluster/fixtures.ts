// Objects the cluster tests create: fake kwok GPU nodes, namespaces and TrainingRun manifests.
export const KWOK_TOLERATION = { key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" };

export function fakeGpuNode(name: string, o: { gpus: number; pods?: number }): Record<string, unknown> {
  const capacity = {
    cpu: "256",
    memory: "2Ti",
    pods: String(o.pods ?? 110),
    "nvidia.com/gpu": String(o.gpus),
  };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: { type: "kwok", "kubernetes.io/hostname": name, "nvidia.com/gpu.present": "true" },
    },
    spec: { taints: [{ key: "kwok.x-k8s.io/node", value: "fake", effect: "NoSchedule" }] },
    status: { capacity, allocatable: capacity },
  };
}

export function namespace(name: string): Record<string, unknown> {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

export function trainingRun(
  name: string,
  ns: string,
  spec: Record<string, unknown> = {},
): Record<string, unknown> {
  const scheduling = (spec.scheduling as Record<string, unknown> | undefined) ?? {};
  return {
    apiVersion: "radfleet.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name, namespace: ns },
    spec: {
      replicas: { min: 2, max: 2 },
      resources: { gpusPerWorker: 1, cpu: "1", memory: "1Gi" },
      restartPolicy: { backoffLimit: 2, initialBackoffSeconds: 1, maxBackoffSeconds: 4 },
      ...spec,
      scheduling: { tolerations: [KWOK_TOLERATION], gangTimeoutSeconds: 3, ...scheduling },
    },
  };
}

/** The PodGroup CRD as far as radfleet uses it (Volcano's own CRD has the full schema). */
export const podGroupCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "podgroups.scheduling.volcano.sh" },
  spec: {
    group: "scheduling.volcano.sh",
    names: {
      kind: "PodGroup",
      listKind: "PodGroupList",
      plural: "podgroups",
      singular: "podgroup",
      shortNames: ["pg"],
    },
    scope: "Namespaced",
    versions: [
      {
        name: "v1beta1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                properties: {
                  minMember: { type: "integer", format: "int32" },
                  minResources: {
                    type: "object",
                    additionalProperties: {
                      anyOf: [{ type: "integer" }, { type: "string" }],
                      "x-kubernetes-int-or-string": true,
                    },
                  },
                  queue: { type: "string" },
                  priorityClassName: { type: "string" },
                },
              },
              status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
            },
          },
        },
      },
    ],
  },
};

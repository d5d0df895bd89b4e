// The metadata every object a run owns carries: its name and namespace, the run's labels, and an
// owner reference to the TrainingRun, so the garbage collector deletes them with the run.
import type { V1ObjectMeta, V1OwnerReference } from "@kubernetes/client-node";
import { LABEL_MANAGED_BY, LABEL_ROLE, LABEL_RUN, MANAGER, type PodRole } from "./labels.js";
import type { TrainingRunObject } from "./types.js";

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

/** The labels that select a run's objects (and, with a role, its coordinator or trainer pods). */
export function runLabels(run: TrainingRunObject, role?: PodRole): Record<string, string> {
  const l: Record<string, string> = {
    [LABEL_RUN]: run.metadata.name,
    [LABEL_MANAGED_BY]: MANAGER,
    "app.kubernetes.io/name": "radfleet",
  };
  if (role) l[LABEL_ROLE] = role;
  return l;
}

export function ownedMeta(
  run: TrainingRunObject,
  name: string,
  role?: PodRole,
): V1ObjectMeta & { name: string; namespace: string } {
  return {
    name,
    namespace: run.metadata.namespace,
    labels: runLabels(run, role),
    ownerReferences: [ownerReference(run)],
  };
}

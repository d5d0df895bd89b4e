// The TrainingRun object as the controller sees it. The spec arrives unvalidated from the API
// server (the CRD schema checks structure; parseRunSpec checks the rest) and is parsed once.
import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { RunProgressRecord } from "../../common/run-records.js";
import type { RunPhase } from "../../common/spec/index.js";

export type ConditionType = "Created" | "Scheduled" | "Running" | "Restarting" | "Succeeded" | "Failed";
export type ConditionStatus = "True" | "False" | "Unknown";

export interface RunCondition {
  type: ConditionType;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface TrainingRunStatus {
  phase?: RunPhase;
  conditions?: RunCondition[];
  observedGeneration?: number;
  generation?: number;
  worldSize?: number;
  replicasReady?: number;
  replicasDesired?: number;
  replicasReadyText?: string;
  step?: number;
  totalSteps?: number;
  progress?: string;
  eta?: string;
  loss?: string;
  restarts?: number;
  lastCheckpoint?: { step?: number; uri?: string; time?: string };
  evaluation?: Record<string, number>;
  startTime?: string;
  completionTime?: string;
  message?: string;
}

export interface TrainingRunObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec?: unknown;
  status?: TrainingRunStatus;
}

/** Progress the coordinator publishes (NATS KV, key runProgressKey(run name)), as read. */
export interface RunProgress extends RunProgressRecord {
  /** When this record was observed (ms since epoch); used for the throughput behind the ETA. */
  observedAtMs?: number;
}

/** Volcano's PodGroup (scheduling.volcano.sh/v1beta1), the fields radfleet sets and reads. */
export interface PodGroupObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: {
    minMember: number;
    minResources?: Record<string, string>;
    queue?: string;
    priorityClassName?: string;
  };
  status?: {
    phase?: string;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
  };
}

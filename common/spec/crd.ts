// The TrainingRun CustomResourceDefinition, generated from the run spec schema so the API server
// validates exactly what the CLI validates. `radfleet crd` prints it; the copies under deploy/ and
// charts/ are regenerated with `npm run gen:crd` and a test fails if they drift.
import YAML from "yaml";
import { RUN_NAME_CEL } from "./load.js";
import { runSpecSchema } from "./run-spec.js";
import type { OpenApiSchema } from "./schema.js";

export const CRD_GROUP = "radfleet.io";
export const CRD_VERSION = "v1alpha1";
export const CRD_KIND = "TrainingRun";
export const CRD_PLURAL = "trainingruns";

export const RUN_PHASES = ["Pending", "Running", "Restarting", "Suspended", "Succeeded", "Failed"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];
export const CONDITION_TYPES = [
  "Created",
  "Scheduled",
  "Running",
  "Restarting",
  "Succeeded",
  "Failed",
] as const;

const condition: OpenApiSchema = {
  type: "object",
  required: ["type", "status"],
  properties: {
    type: { type: "string", enum: [...CONDITION_TYPES] },
    status: { type: "string", enum: ["True", "False", "Unknown"] },
    reason: { type: "string" },
    message: { type: "string" },
    lastTransitionTime: { type: "string", format: "date-time" },
    observedGeneration: { type: "integer" },
  },
};

export const statusSchema: OpenApiSchema = {
  type: "object",
  properties: {
    phase: { type: "string", enum: [...RUN_PHASES] },
    conditions: {
      type: "array",
      items: condition,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    },
    observedGeneration: { type: "integer" },
    generation: { type: "integer", description: "Rendezvous generation (not metadata.generation)." },
    worldSize: { type: "integer" },
    replicasReady: { type: "integer" },
    replicasDesired: { type: "integer" },
    replicasReadyText: { type: "string", description: "ready/desired, for the printer column." },
    step: { type: "integer" },
    totalSteps: { type: "integer" },
    progress: { type: "string", description: "Percent of steps done, e.g. 42%." },
    eta: { type: "string", description: "Estimated time remaining, e.g. 1h05m." },
    loss: { type: "string" },
    restarts: { type: "integer" },
    lastCheckpoint: {
      type: "object",
      properties: {
        step: { type: "integer" },
        uri: { type: "string" },
        time: { type: "string", format: "date-time" },
      },
    },
    evaluation: {
      type: "object",
      additionalProperties: { type: "number" },
      description: "Latest headline metrics.",
    },
    startTime: { type: "string", format: "date-time" },
    completionTime: { type: "string", format: "date-time" },
    message: { type: "string" },
  },
};

export function trainingRunCrd(): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${CRD_PLURAL}.${CRD_GROUP}` },
    spec: {
      group: CRD_GROUP,
      scope: "Namespaced",
      names: {
        kind: CRD_KIND,
        listKind: `${CRD_KIND}List`,
        plural: CRD_PLURAL,
        singular: "trainingrun",
        shortNames: ["tr"],
      },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            { name: "Ready", type: "string", jsonPath: ".status.replicasReadyText" },
            { name: "Step", type: "integer", jsonPath: ".status.step" },
            { name: "Progress", type: "string", jsonPath: ".status.progress" },
            { name: "ETA", type: "string", jsonPath: ".status.eta" },
            { name: "Loss", type: "string", jsonPath: ".status.loss" },
            { name: "Restarts", type: "integer", jsonPath: ".status.restarts" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description:
                "A data-parallel multitask QLoRA fine-tuning run of a chest X-ray report generator.",
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: runSpecSchema.openapi(),
                status: statusSchema,
              },
              "x-kubernetes-validations": [RUN_NAME_CEL],
            },
          },
        },
      ],
    },
  };
}

export function trainingRunCrdYaml(): string {
  return (
    "# Generated from common/spec/run-spec.ts by `radfleet crd`; do not edit by hand.\n" +
    YAML.stringify(trainingRunCrd())
  );
}

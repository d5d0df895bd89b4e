// What the API server itself refuses at `kubectl apply`, through the CRD's CEL rules (generated
// from the run spec schema with the checks `radfleet validate` makes): a name the run's Service and
// labels cannot carry, and a llava-onevision preset without model.path. Before these rules such a
// run was accepted and then failed every reconcile with a 422, or crash-looped its trainers.
import { describe, expect, inject, it } from "vitest";
import { namespace, trainingRun } from "./fixtures.js";
import { eventually } from "./helpers.js";
import { kubeClient } from "./kube-client.js";

const kube = kubeClient(inject("kubeconfig"));
const NS = "admission";
const runsPath = `/apis/radfleet.io/v1alpha1/namespaces/${NS}/trainingruns`;

describe("TrainingRun admission (CRD validation rules)", () => {
  it("refuses names a Service cannot carry and llava presets without weights, naming the rule", async () => {
    await kube.create(namespace(NS));
    await eventually(
      "namespace admission",
      () => kube.raw("GET", `/api/v1/namespaces/${NS}`),
      (r) => r.status === 200,
    );
    for (const name of ["2025-cxr", `cxr-${"a".repeat(60)}`]) {
      const r = await kube.raw("POST", runsPath, trainingRun(name, NS));
      expect(r.status, `${name}: ${r.body}`).toBe(422);
      expect(r.body).toContain("metadata.name must be a DNS-1035 label");
    }
    const noWeights = await kube.raw(
      "POST",
      runsPath,
      trainingRun("cxr-llava", NS, { model: { preset: "llava-onevision-qwen2-0.5b" } }),
    );
    expect(noWeights.status, noWeights.body).toBe(422);
    expect(noWeights.body).toContain("model.path is required for the llava-onevision presets");
    expect(noWeights.body).toContain("spec.model.path");

    // The same runs, valid: accepted.
    for (const run of [
      trainingRun("cxr-2025", NS),
      trainingRun("cxr-llava", NS, { model: { preset: "llava-onevision-qwen2-0.5b", path: "/models/ov" } }),
    ]) {
      const r = await kube.raw("POST", runsPath, run);
      expect(r.status, r.body).toBe(201);
    }
  });
});

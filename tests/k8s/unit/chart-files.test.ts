// Chart and deploy files that need no cluster: the example run is a valid run spec, the dashboard
// uses only radfleet metric names the parts export, and the values schema is well-formed JSON.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { parseRunSpec } from "../../../common/spec/index.js";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const KNOWN = new Set([
  "radfleet_train_loss",
  "radfleet_train_step",
  "radfleet_train_total_steps",
  "radfleet_train_learning_rate",
  "radfleet_train_grad_norm",
  "radfleet_train_samples_total",
  "radfleet_train_tokens_total",
  "radfleet_train_step_phase_seconds_sum",
  "radfleet_train_step_phase_seconds_count",
  "radfleet_train_nonfinite_steps_total",
  "radfleet_checkpoint_duration_seconds_bucket",
  "radfleet_checkpoint_duration_seconds_count",
  "radfleet_checkpoint_last_commit_timestamp_seconds",
  "radfleet_eval_metric",
  "radfleet_collective_allreduce_duration_seconds_bucket",
  "radfleet_collective_allreduce_duration_seconds_sum",
  "radfleet_collective_sent_bytes_total",
  "radfleet_tensor_memory_bytes",
  "radfleet_coordinator_workers_alive",
  "radfleet_coordinator_generation",
  "radfleet_coordinator_failures_detected_total",
  "radfleet_runs",
  "radfleet_reconcile_errors_total",
  "radfleet_pod_restarts_total",
]);

describe("chart files", () => {
  it("the example TrainingRun is a valid run spec", async () => {
    const doc = YAML.parse(
      await readFile(`${REPO}/charts/radfleet/examples/trainingrun.yaml`, "utf8"),
    ) as unknown;
    const { name, spec } = parseRunSpec(doc);
    expect(name).toBe("cxr-multitask");
    expect(spec.resources.gpusPerWorker).toBe(1);
  });

  it("the dashboard queries only known metric names and has the required panels", async () => {
    const dash = JSON.parse(await readFile(`${REPO}/charts/radfleet/dashboards/radfleet.json`, "utf8")) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const names = new Set(exprs.flatMap((e) => e.match(/radfleet_[a-z0-9_]+/g) ?? []));
    expect([...names].filter((n) => !KNOWN.has(n))).toEqual([]);
    const titles = dash.panels.map((p) => p.title).join(" | ");
    for (const t of [
      "Loss",
      "Throughput",
      "Step time split",
      "All-reduce bandwidth",
      "restarts",
      "Checkpoint age",
      "ROUGE-L",
      "Hallucination",
    ]) {
      expect(titles).toContain(t);
    }
  });

  it("values.schema.json is valid JSON and closes every object it describes", async () => {
    const schema = JSON.parse(await readFile(`${REPO}/charts/radfleet/values.schema.json`, "utf8")) as Record<
      string,
      unknown
    >;
    expect(schema.additionalProperties).toBe(false);
    const values = YAML.parse(await readFile(`${REPO}/charts/radfleet/values.yaml`, "utf8")) as Record<
      string,
      unknown
    >;
    expect(Object.keys(values).sort()).toEqual(Object.keys(schema.properties as object).sort());
  });
});

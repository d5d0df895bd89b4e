// Every PromQL expression of the dashboard and of the chart's alert rules, evaluated by a real
// Prometheus. The target is a synthetic exporter (prom-client, the metric names and labels the
// trainers and coordinator export) driven into each alert's condition: the real `radfleet run`
// end-to-end scrape belongs with the launcher's tests once `radfleet run` is wired.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import YAML from "yaml";
import {
  counter,
  gauge,
  histogram,
  newRegistry,
  serveMetrics,
  type MetricsServer,
} from "../../../common/metrics.js";
import { startPrometheus, type PrometheusHandle } from "../../helpers/prometheus.js";
import { K8S_VERSION } from "./control-plane.js";

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const L = ["run", "rank", "backend"] as const;
const reg = newRegistry();
const m = {
  loss: gauge(reg, { name: "radfleet_train_loss", help: "h", labelNames: [...L, "kind"] }),
  step: gauge(reg, { name: "radfleet_train_step", help: "h", labelNames: L }),
  total: gauge(reg, { name: "radfleet_train_total_steps", help: "h", labelNames: L }),
  lr: gauge(reg, { name: "radfleet_train_learning_rate", help: "h", labelNames: L }),
  grad: gauge(reg, { name: "radfleet_train_grad_norm", help: "h", labelNames: L }),
  samples: counter(reg, { name: "radfleet_train_samples_total", help: "h", labelNames: L }),
  tokens: counter(reg, { name: "radfleet_train_tokens_total", help: "h", labelNames: L }),
  phase: histogram(reg, {
    name: "radfleet_train_step_phase_seconds",
    help: "h",
    labelNames: [...L, "phase"],
  }),
  nonfinite: counter(reg, { name: "radfleet_train_nonfinite_steps_total", help: "h", labelNames: L }),
  ckptDur: histogram(reg, { name: "radfleet_checkpoint_duration_seconds", help: "h", labelNames: L }),
  ckptLast: gauge(reg, {
    name: "radfleet_checkpoint_last_commit_timestamp_seconds",
    help: "h",
    labelNames: L,
  }),
  ckptStep: gauge(reg, { name: "radfleet_checkpoint_last_commit_step", help: "h", labelNames: L }),
  ckptInterval: gauge(reg, { name: "radfleet_checkpoint_interval_steps", help: "h", labelNames: L }),
  ckptFail: counter(reg, { name: "radfleet_checkpoint_failures_total", help: "h", labelNames: L }),
  runPhase: gauge(reg, {
    name: "radfleet_run_phase",
    help: "h",
    labelNames: ["run_namespace", "run", "phase"],
  }),
  runSince: gauge(reg, {
    name: "radfleet_run_phase_since_timestamp_seconds",
    help: "h",
    labelNames: ["run_namespace", "run"],
  }),
  evalm: gauge(reg, { name: "radfleet_eval_metric", help: "h", labelNames: [...L, "metric"] }),
  arDur: histogram(reg, { name: "radfleet_collective_allreduce_duration_seconds", help: "h", labelNames: L }),
  arBytes: counter(reg, { name: "radfleet_collective_sent_bytes_total", help: "h", labelNames: L }),
  mem: gauge(reg, { name: "radfleet_tensor_memory_bytes", help: "h", labelNames: L }),
  alive: gauge(reg, { name: "radfleet_coordinator_workers_alive", help: "h", labelNames: ["run"] }),
  generation: gauge(reg, { name: "radfleet_coordinator_generation", help: "h", labelNames: ["run"] }),
  failures: counter(reg, {
    name: "radfleet_coordinator_failures_detected_total",
    help: "h",
    labelNames: ["run"],
  }),
  runs: gauge(reg, { name: "radfleet_runs", help: "h", labelNames: ["phase"] }),
  restarts: counter(reg, { name: "radfleet_pod_restarts_total", help: "h" }),
  recErr: counter(reg, { name: "radfleet_reconcile_errors_total", help: "h" }),
};
const w = { run: "r1", rank: "0", backend: "cpu" };

let server: MetricsServer;
let prom: PrometheusHandle;
let tick: NodeJS.Timeout;
let exploded = false;

beforeAll(async () => {
  // Healthy values for the dashboard; then the alert conditions on a second run "bad".
  m.total.set(w, 100);
  m.lr.set(w, 1e-3);
  m.grad.set(w, 0.5);
  m.mem.set(w, 2 ** 20);
  m.alive.set({ run: "r1" }, 2);
  m.generation.set({ run: "r1" }, 1);
  m.runs.set({ phase: "Running" }, 1);
  m.restarts.inc();
  m.ckptLast.set(w, Date.now() / 1000);
  for (const metric of [
    "rougeL_rouge_score_f",
    "clinical_f1_micro_14",
    "fully_accurate_rate",
    "hallucination_rate",
    "omission_rate",
    "head_macro_f1",
    "self_consistency_rate",
    "self_contradiction_rate",
  ]) {
    m.evalm.set({ ...w, metric }, 0.3);
  }
  const bad = { run: "bad", rank: "0", backend: "cpu" };
  m.step.set(bad, 10); // never moves: stalled
  m.total.set(bad, 100);
  m.loss.set({ ...bad, kind: "total" }, NaN);
  m.ckptLast.set(bad, Date.now() / 1000 - 10 * 86400);
  // Checkpoints every 2 steps, the last at step 0 while the run is at step 10: stale.
  m.ckptStep.set(bad, 0);
  m.ckptInterval.set(bad, 2);
  m.ckptFail.inc(bad);
  m.runPhase.set({ run_namespace: "team", run: "bad", phase: "Failed" }, 1);
  m.runSince.set({ run_namespace: "team", run: "bad" }, Date.now() / 1000 - 60);
  m.runPhase.set({ run_namespace: "team", run: "stuck", phase: "Pending" }, 1);
  m.runSince.set({ run_namespace: "team", run: "stuck" }, Date.now() / 1000 - 3600);
  m.ckptDur.observe(bad, 1);
  m.failures.inc({ run: "bad" }, 1);
  let step = 0;
  let bytes = 1e9;
  const advance = () => {
    step += 1;
    m.step.set(w, step);
    for (const kind of ["total", "lm", "cls"]) m.loss.set({ ...w, kind }, 2 / Math.sqrt(step));
    m.samples.inc(w, 8);
    m.tokens.inc(w, 800);
    for (const phase of ["data", "forward_backward", "allreduce", "optimizer"])
      m.phase.observe({ ...w, phase }, 0.01);
    m.arDur.observe(w, 0.01);
    m.arBytes.inc(w, 1e6);
    m.ckptDur.observe(w, 0.2);
    // "bad": loss 1 then 10 (explodes); bandwidth drops; failures keep coming.
    m.loss.set({ run: "bad2", rank: "0", backend: "cpu", kind: "total" }, exploded ? 10 : 1);
    bytes = Math.max(1, bytes / 4);
    m.arBytes.inc(bad, bytes);
    m.arDur.observe(bad, 0.01);
    m.failures.inc({ run: "bad" }, 1);
    m.nonfinite.inc(bad);
    m.ckptFail.inc(bad);
    m.ckptDur.observe(bad, 1); // commits were counted, but the last one is 10 days old
  };
  advance();
  tick = setInterval(advance, 500);
  server = await serveMetrics(reg, 0, "127.0.0.1");
  prom = await startPrometheus({ targets: [`127.0.0.1:${server.port}`], scrapeIntervalSeconds: 1 });
  await prom.waitForSeries("radfleet_train_step", 20_000);
  // A few scrapes of the calm loss, then the explosion, then a few more for rate() and changes().
  await new Promise((r) => setTimeout(r, 2500));
  exploded = true;
  await new Promise((r) => setTimeout(r, 3000));
});
afterAll(async () => {
  clearInterval(tick);
  await prom?.stop();
  await server?.close();
});

describe("PromQL on a real Prometheus", () => {
  it("every dashboard query returns data", async () => {
    const dash = JSON.parse(
      await readFile(join(REPO, "charts/radfleet/dashboards/radfleet.json"), "utf8"),
    ) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const empty: string[] = [];
    for (const p of dash.panels) {
      for (const t of p.targets ?? []) {
        const q = t.expr.replaceAll("$run", ".*").replaceAll("$__rate_interval", "10s");
        if ((await prom.query(q)).length === 0) empty.push(`${p.title}: ${q}`);
      }
    }
    expect(empty).toEqual([]);
  });

  // The rules' behaviour over time (for, windows, pod replacement) is proved by promtool on
  // deploy/prometheus/radfleet-rules.test.yaml (tests/foundation/alert-rules.test.ts); here each
  // expression, as the chart renders it, runs on a real Prometheus scraping real exporters.
  it("every alert expression fires on the state it describes", async () => {
    const { stdout } = await exec(join(inject("k8sBin"), "helm"), [
      "template",
      "t",
      join(REPO, "charts/radfleet"),
      "--kube-version",
      K8S_VERSION,
      "--api-versions",
      "monitoring.coreos.com/v1",
      "--show-only",
      "templates/prometheusrule.yaml",
      "--set",
      "metrics.prometheusRule.stallWindow=3s",
    ]);
    const rule = YAML.parse(stdout) as {
      spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    };
    const silent: string[] = [];
    for (const r of rule.spec.groups.flatMap((g) => g.rules)) {
      // Bandwidth collapse compares 5m with 1h windows, which seconds of data cannot separate:
      // check that both sides evaluate; the reconcile-error rule needs a failing controller.
      if (r.alert === "RadfleetAllreduceBandwidthCollapse") {
        const [lhs] = r.expr.split("\n<");
        if ((await prom.query(lhs)).length === 0) silent.push(`${r.alert} (bandwidth side)`);
        continue;
      }
      if (r.alert === "RadfleetReconcileErrors") {
        if ((await prom.query("sum(rate(radfleet_reconcile_errors_total[10m]))")).length === 0)
          silent.push(r.alert);
        continue;
      }
      if ((await prom.query(r.expr)).length === 0) silent.push(`${r.alert}: ${r.expr}`);
    }
    expect(silent).toEqual([]);
  });
});

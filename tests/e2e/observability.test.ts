// The shipped Grafana dashboard and alert rules against a real Prometheus that scraped a real
// `radfleet run` (controller/coordinator and both trainers): every dashboard query returns data,
// every rule expression evaluates, and every metric the rules read is exported under that name.
import { readFile } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { freePort } from "../helpers/ports.js";
import { startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { radfleet, synthData, writeSpec } from "./helpers.js";

/** Panels and alerts fed only by the Kubernetes controller, which a local run does not have. */
const CONTROLLER_ONLY = [
  "radfleet_runs",
  "radfleet_pod_restarts_total",
  "radfleet_reconcile_errors_total",
  "radfleet_reconcile_duration_seconds_count",
  "radfleet_run_phase",
  "radfleet_run_phase_since_timestamp_seconds",
];

function exprsOf(o: unknown, out: string[] = []): string[] {
  if (Array.isArray(o)) o.forEach((x) => exprsOf(x, out));
  else if (o && typeof o === "object") {
    for (const [k, v] of Object.entries(o)) {
      if (k === "expr" && typeof v === "string") out.push(v);
      else exprsOf(v, out);
    }
  }
  return out;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A base port with base, base+1 and base+2 free (the controller and two trainers). */
async function threePorts(): Promise<number> {
  for (;;) {
    const base = await freePort();
    if ((await portFree(base + 1)) && (await portFree(base + 2))) return base;
  }
}

let prom: PrometheusHandle;
let runOut = "";
/** The run's wall-clock span (unix seconds): panels and series are looked at over it, as Grafana
 * does, because once the run has exited its series are stale to an instant query. */
let span: [number, number] = [0, 0];

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), "radfleet-obs-"));
  const data = join(root, "data");
  await synthData(data);
  const spec = join(root, "spec.yaml");
  // Long enough for several scrapes; an evaluation mid-run publishes the evaluation gauges.
  await writeSpec(
    spec,
    data,
    [
      "checkpoint: { interval: 10 }",
      // Tables beside the reports, so the self-consistency panel has data too.
      "task: { findingsTable: output }",
      "evaluation: { interval: 30, maxSamples: 4, generation: { maxNewTokens: 8 } }",
    ],
    90,
  );
  const base = await threePorts();
  prom = await startPrometheus({ targets: [base, base + 1, base + 2].map((p) => `127.0.0.1:${p}`) });
  const startS = Date.now() / 1000;
  const r = await radfleet([
    "run",
    spec,
    "--name",
    "obs",
    "--run-dir",
    join(root, "run"),
    "--metrics-port",
    String(base),
    "--quiet",
  ]).done;
  runOut = r.out;
  span = [Math.floor(startS), Math.ceil(Date.now() / 1000) + 2];
  await new Promise((resolve) => setTimeout(resolve, 2500)); // the last scrapes are ingested
  expect(r.code, r.out).toBe(0);
}, 300_000);

afterAll(async () => {
  await prom?.stop();
});

describe("dashboard and alert rules on a real run's metrics", () => {
  it("every dashboard query returns data", async () => {
    const dashboard = JSON.parse(await readFile("charts/radfleet/dashboards/radfleet.json", "utf8"));
    const exprs = exprsOf(dashboard).filter((e) => !CONTROLLER_ONLY.some((m) => e.includes(m)));
    expect(exprs.length).toBeGreaterThan(15);
    const empty: string[] = [];
    for (const e of exprs) {
      const q = e.replaceAll("$run", "obs").replaceAll("$__rate_interval", "2m");
      if ((await prom.queryRange(q, ...span)).length === 0) empty.push(q);
    }
    expect(empty, runOut).toEqual([]);
  });

  it("every alert rule evaluates, and every metric the rules read is exported", async () => {
    const rules = YAML.parse(await readFile("deploy/prometheus/radfleet-rules.yaml", "utf8")) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThanOrEqual(7);
    for (const r of all) await prom.query(r.expr); // throws on a PromQL error
    const names = new Set(all.flatMap((r) => r.expr.match(/radfleet_[a-z_]+/g) ?? []));
    const missing: string[] = [];
    for (const n of names) {
      if (CONTROLLER_ONLY.includes(n)) continue;
      if ((await prom.queryRange(`count(${n}{run="obs"})`, ...span)).length === 0) missing.push(n);
    }
    expect(missing).toEqual([]);
  });
});

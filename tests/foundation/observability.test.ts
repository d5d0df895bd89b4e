import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  counter,
  gauge,
  histogram,
  newRegistry,
  serveMetrics,
  type MetricsServer,
} from "../../common/metrics.js";
import { createLogger } from "../../common/log.js";
import { startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";

describe("metrics registry", () => {
  it("enforces the naming rules", () => {
    const reg = newRegistry();
    expect(() => counter(reg, { name: "radfleet_steps", help: "x" })).toThrow(/_total/);
    expect(() => gauge(reg, { name: "steps", help: "x" })).toThrow(/radfleet_/);
    expect(() => histogram(reg, { name: "radfleet_step_seconds_total", help: "x" })).toThrow(/only counters/);
    const a = counter(reg, { name: "radfleet_steps_total", help: "x" });
    expect(counter(reg, { name: "radfleet_steps_total", help: "x" })).toBe(a);
  });
});

describe("a real Prometheus scrapes a radfleet /metrics endpoint", () => {
  let server: MetricsServer;
  let prom: PrometheusHandle;
  beforeAll(async () => {
    const reg = newRegistry({ run: "test-run" });
    counter(reg, { name: "radfleet_test_events_total", help: "events", labelNames: ["kind"] }).inc(
      { kind: "a" },
      3,
    );
    histogram(reg, { name: "radfleet_test_step_seconds", help: "step time" }).observe(0.25);
    server = await serveMetrics(reg, 0, "127.0.0.1");
    prom = await startPrometheus({ targets: [`127.0.0.1:${server.port}`] });
  });
  afterAll(async () => {
    await prom?.stop();
    await server?.close();
  });

  it("sees the counter with its labels and the histogram", async () => {
    const events = await prom.waitForSeries('radfleet_test_events_total{kind="a"}');
    expect(events[0].metric.run).toBe("test-run");
    expect(Number(events[0].value[1])).toBe(3);
    const count = await prom.waitForSeries("radfleet_test_step_seconds_count");
    expect(Number(count[0].value[1])).toBe(1);
  });
});

describe("logger", () => {
  it("writes one JSON object per line with its context", () => {
    const lines: string[] = [];
    const log = createLogger({
      context: { runId: "r1", rank: 0 },
      sink: { write: (l) => lines.push(l) },
      level: "info",
    });
    log.debug("hidden");
    log.child({ generation: 2 }).info("step", { step: 5, err: new Error("boom") });
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith("\n")).toBe(true);
    const rec = JSON.parse(lines[0]);
    expect(rec).toMatchObject({
      level: "info",
      event: "step",
      runId: "r1",
      rank: 0,
      generation: 2,
      step: 5,
      err: { message: "boom" },
    });
  });
});

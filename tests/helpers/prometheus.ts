// Starts a real Prometheus (the Debian package's /usr/bin/prometheus) on a free port with a
// temporary config and TSDB, scraping the targets a test gives it, and stops it afterwards.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.js";

export interface PrometheusHandle {
  url: string;
  /** Instant query; returns the result vector. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Range query over [startS, endS] (unix seconds), as Grafana's panels ask; returns the matrix. */
  queryRange(
    promql: string,
    startS: number,
    endS: number,
    stepS?: number,
  ): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>>;
  /** Polls until `promql` returns at least one series. */
  waitForSeries(
    promql: string,
    timeoutMs?: number,
  ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";

export async function startPrometheus(opts: {
  targets: string[];
  scrapeIntervalSeconds?: number;
  ruleFiles?: string[];
}): Promise<PrometheusHandle> {
  const dir = await mkdtemp(join(tmpdir(), "radfleet-prom-"));
  const port = await freePort();
  const interval = opts.scrapeIntervalSeconds ?? 1;
  const config = [
    "global:",
    `  scrape_interval: ${interval}s`,
    `  evaluation_interval: ${interval}s`,
    ...(opts.ruleFiles?.length
      ? ["rule_files:", ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)]
      : []),
    "scrape_configs:",
    "  - job_name: radfleet",
    "    static_configs:",
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(", ")}]`,
    "",
  ].join("\n");
  await writeFile(join(dir, "prometheus.yml"), config);
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitFor("prometheus /-/ready", async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
      return (await fetch(`${url}/-/ready`)).ok;
    });
  } catch (err) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const query: PrometheusHandle["query"] = async (promql) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== "success") throw new Error(`prometheus query ${promql}: ${body.error ?? res.status}`);
    return body.data?.result ?? [];
  };
  const queryRange: PrometheusHandle["queryRange"] = async (promql, startS, endS, stepS = 1) => {
    const params = new URLSearchParams({
      query: promql,
      start: String(startS),
      end: String(endS),
      step: String(stepS),
    });
    const res = await fetch(`${url}/api/v1/query_range?${params.toString()}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
    };
    if (body.status !== "success") throw new Error(`prometheus query ${promql}: ${body.error ?? res.status}`);
    return body.data?.result ?? [];
  };
  return {
    url,
    query,
    queryRange,
    async waitForSeries(promql, timeoutMs = 20_000) {
      let result: Awaited<ReturnType<PrometheusHandle["query"]>> = [];
      await waitFor(
        `series for ${promql}`,
        async () => (result = await query(promql)).length > 0,
        timeoutMs,
        250,
      );
      return result;
    },
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

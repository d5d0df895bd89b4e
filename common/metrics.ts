// One place for Prometheus metric plumbing, enforcing the house naming rules: prefix `radfleet_`,
// base units, `_total` on counters, histograms rather than summaries. Parts register their own
// metrics on a Registry they are given; each process serves one registry on /metrics.
import http from "node:http";
import type { AddressInfo } from "node:net";
import client from "prom-client";

export type Registry = client.Registry;
export { client as promClient };

export function newRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const reg = new client.Registry();
  reg.setDefaultLabels(defaultLabels);
  return reg;
}

/** Adds process metrics (CPU, resident memory, event loop lag) with the radfleet_ prefix. */
export function collectProcessMetrics(reg: Registry): void {
  client.collectDefaultMetrics({ register: reg, prefix: "radfleet_" });
}

function checkName(name: string, kind: "counter" | "gauge" | "histogram"): void {
  if (!/^radfleet_[a-z][a-z0-9_]*$/.test(name)) {
    throw new Error(`metric name ${JSON.stringify(name)}: expected radfleet_<snake_case>`);
  }
  if (kind === "counter" && !name.endsWith("_total")) {
    throw new Error(`metric name ${JSON.stringify(name)}: counters must end in _total`);
  }
  if (kind !== "counter" && name.endsWith("_total")) {
    throw new Error(`metric name ${JSON.stringify(name)}: only counters end in _total`);
  }
}

interface MetricDef<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** Returns the metric already registered under this name, so parts can be constructed twice. */
function existing<T>(reg: Registry, name: string): T | undefined {
  return reg.getSingleMetric(name) as T | undefined;
}

export function counter<L extends string = string>(reg: Registry, def: MetricDef<L>): client.Counter<L> {
  checkName(def.name, "counter");
  return (
    existing<client.Counter<L>>(reg, def.name) ??
    new client.Counter<L>({
      name: def.name,
      help: def.help,
      labelNames: def.labelNames ?? [],
      registers: [reg],
    })
  );
}

export function gauge<L extends string = string>(reg: Registry, def: MetricDef<L>): client.Gauge<L> {
  checkName(def.name, "gauge");
  return (
    existing<client.Gauge<L>>(reg, def.name) ??
    new client.Gauge<L>({
      name: def.name,
      help: def.help,
      labelNames: def.labelNames ?? [],
      registers: [reg],
    })
  );
}

export function histogram<L extends string = string>(
  reg: Registry,
  def: MetricDef<L> & { buckets?: number[] },
): client.Histogram<L> {
  checkName(def.name, "histogram");
  return (
    existing<client.Histogram<L>>(reg, def.name) ??
    new client.Histogram<L>({
      name: def.name,
      help: def.help,
      labelNames: def.labelNames ?? [],
      buckets: def.buckets ?? client.exponentialBuckets(0.001, 2, 16),
      registers: [reg],
    })
  );
}

export interface MetricsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Serves `reg` on http://host:port/metrics (port 0 picks a free one). */
export async function serveMetrics(reg: Registry, port = 0, host = "0.0.0.0"): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.url === "/metrics" || req.url?.startsWith("/metrics?")) {
      reg.metrics().then(
        (body) => {
          res.writeHead(200, { "content-type": reg.contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === "/healthz") {
      res.writeHead(200);
      res.end("ok");
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

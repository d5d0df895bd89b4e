// /metrics served from a thread of its own. A trainer's tensor step runs synchronously on its main
// thread (a native TensorFlow step on a large model can take tens of seconds), and a scrape that
// waits for it times out: Prometheus would mark the target down mid-run. So the main thread renders
// its registry whenever it is free and hands the text to a worker thread, which answers every
// scrape at once with the latest snapshot. radfleet_metrics_snapshot_timestamp_seconds says when
// that was (time() minus it is how long the main thread has been busy).
import { Worker } from "node:worker_threads";
import { gauge, type MetricsServer, type Registry } from "./metrics.js";

// Plain JavaScript that runs as a CommonJS or an ES module script alike (dynamic imports only), with
// no loader flags from the parent (execArgv: []). It owns the socket; the main thread only sends
// {body, contentType} snapshots and {close}.
const THREAD_SOURCE = `(async () => {
const { parentPort, workerData } = await import("node:worker_threads");
const http = await import("node:http");
let snapshot = { body: "", contentType: "text/plain; version=0.0.4; charset=utf-8" };
const server = http.createServer((req, res) => {
  if (req.url === "/metrics" || (req.url || "").startsWith("/metrics?")) {
    res.writeHead(200, { "content-type": snapshot.contentType });
    res.end(snapshot.body);
  } else if (req.url === "/healthz") {
    res.writeHead(200);
    res.end("ok");
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.on("error", (err) => parentPort.postMessage({ error: String(err && err.message || err) }));
server.listen(workerData.port, workerData.host, () => parentPort.postMessage({ port: server.address().port }));
parentPort.on("message", (m) => {
  if (m.close) server.close(() => process.exit(0));
  else snapshot = m;
});
})();
`;

export interface ThreadMetricsOptions {
  port?: number;
  host?: string;
  /** How often the main thread renders a snapshot when it is free. Default 1000 ms. */
  refreshMs?: number;
}

/** Serves `reg` on http://host:port/metrics from a worker thread (port 0 picks a free one). */
export async function serveMetricsFromThread(
  reg: Registry,
  opts: ThreadMetricsOptions = {},
): Promise<MetricsServer> {
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    execArgv: [],
    workerData: { port: opts.port ?? 0, host: opts.host ?? "0.0.0.0" },
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      worker.once("message", (m: { port?: number; error?: string }) =>
        m.port !== undefined ? resolve(m.port) : reject(new Error(`metrics thread: ${m.error}`)),
      );
      worker.once("error", reject);
      worker.once("exit", (code) =>
        reject(new Error(`metrics thread exited (code ${code}) before listening`)),
      );
    });
  } catch (err) {
    // A thread left running (ref'd, listening for messages) would keep the failed process alive.
    await worker.terminate();
    throw err;
  }
  const rendered = gauge(reg, {
    name: "radfleet_metrics_snapshot_timestamp_seconds",
    help: "Unix time at which the main thread rendered the metrics this scrape returns",
  });
  let closed = false;
  const push = async () => {
    rendered.set(Date.now() / 1000);
    const body = await reg.metrics();
    if (!closed) worker.postMessage({ body, contentType: reg.contentType });
  };
  await push();
  const refresh = setInterval(() => void push().catch(() => {}), opts.refreshMs ?? 1000);
  refresh.unref();
  // The thread must not keep a finished process alive.
  worker.unref();
  return {
    port,
    url: `http://127.0.0.1:${port}/metrics`,
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(refresh);
      // Held (ref'd) while closing: an await on nothing but unref'd handles would let the event loop
      // empty, and Node ends a process whose top-level await never settles with exit code 13.
      worker.ref();
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      worker.postMessage({ close: true });
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (grace = setTimeout(r, 2000)))]);
      clearTimeout(grace);
      await worker.terminate();
    },
  };
}

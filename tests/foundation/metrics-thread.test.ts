// /metrics from its own thread: a trainer whose main thread is inside a long synchronous step
// (here a 6-second busy loop standing in for a native TensorFlow step) still answers a scrape, at
// once, with its last snapshot and the time it was rendered.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const METRICS = join(import.meta.dirname, "../../common/metrics.ts");
const THREAD = join(import.meta.dirname, "../../common/metrics-thread.ts");

it("answers scrapes while the main thread is blocked, then closes so the process exits 0", async () => {
  const script = `import { newRegistry, gauge } from ${JSON.stringify(METRICS)};
    import { serveMetricsFromThread } from ${JSON.stringify(THREAD)};
    const reg = newRegistry({ run: "t" });
    gauge(reg, { name: "radfleet_test_value", help: "a value" }).set(42);
    const server = await serveMetricsFromThread(reg, { port: 0, host: "127.0.0.1", refreshMs: 100 });
    console.log("PORT " + server.port);
    await new Promise((r) => setTimeout(r, 300));
    console.log("BLOCKING");
    const until = Date.now() + 6000;
    while (Date.now() < until) {}
    console.log("FREE");
    await server.close();`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d));
  const blocking = new Promise<number>((resolve) =>
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      const port = /PORT (\d+)/.exec(out);
      if (port && out.includes("BLOCKING")) resolve(Number(port[1]));
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const port = await blocking;
  await new Promise((r) => setTimeout(r, 1000)); // well inside the blocked stretch
  const t0 = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
  const body = await res.text();
  const ms = Date.now() - t0;
  expect(out).not.toContain("FREE"); // the scrape came back while the main thread was still busy
  expect(res.status).toBe(200);
  expect(body).toMatch(/^radfleet_test_value\{run="t"\} 42$/m);
  const rendered = Number(/^radfleet_metrics_snapshot_timestamp_seconds\{run="t"\} (\S+)$/m.exec(body)?.[1]);
  expect(Date.now() / 1000 - rendered).toBeGreaterThan(0.5); // the snapshot predates the block
  console.log(`scrape during a blocked main thread: ${ms} ms`);
  expect(await exited, err).toBe(0);
  expect(out).toContain("FREE");
}, 30_000);

it("a port already taken is an error, and the failed process still exits", async () => {
  const script = `import net from "node:net";
    import { newRegistry } from ${JSON.stringify(METRICS)};
    import { serveMetricsFromThread } from ${JSON.stringify(THREAD)};
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, "127.0.0.1", r));
    try {
      await serveMetricsFromThread(newRegistry(), { port: blocker.address().port, host: "127.0.0.1" });
    } catch (err) {
      console.log("REJECTED " + err.message);
      process.exitCode = 1;
    }
    blocker.close();`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(out).toMatch(/REJECTED metrics thread: .*EADDRINUSE/);
  expect(code).toBe(1);
}, 30_000);

// `radfleet bench train`, shortened: real trainer processes with 1 and then 2 workers. Figures are
// printed, not asserted (the machine is shared); the test checks that the benchmark measures what
// it says: each backend, both worker counts, the step split, scaling against the 1-worker run,
// memory and MFU.
import { spawn } from "node:child_process";
import path from "node:path";
import { expect, test } from "vitest";
import type { BackendResult } from "../../bench/train.js";
import { HAS_TENSORFLOW } from "../helpers/backends.js";

const BIN = path.join(import.meta.dirname, "../../bin/radfleet.js");

test("per backend in one run: 1 and 2 workers, throughput, step split, scaling, memory, MFU against that backend's own matmul peak", async () => {
  const backends = HAS_TENSORFLOW ? ["tensorflow", "wasm"] : ["wasm"];
  const child = spawn(
    process.execPath,
    [BIN, "bench", "train", "--steps", "6", "--backends", backends.join(","), "--json"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(code, err).toBe(0);
  const r = JSON.parse(out) as {
    anchor: { source: string; gflops: number };
    speedup1Worker: Record<string, number>;
    backends: BackendResult[];
  };
  console.log(
    JSON.stringify({
      anchor: r.anchor,
      speedup: r.speedup1Worker,
      backends: r.backends.map((b) => ({
        backend: b.backend,
        sps: b.samplesPerSecond,
        mfu: b.mfu,
        peak: b.matmulPeakGflops,
      })),
    }),
  );
  expect(r.backends.map((b) => b.backend)).toEqual(backends);
  expect(r.anchor.gflops).toBeGreaterThan(0);
  if (backends.length === 2)
    expect(r.speedup1Worker["tensorflow/wasm"]).toBeCloseTo(
      r.backends[0].samplesPerSecond["1"] / r.backends[1].samplesPerSecond["1"],
      6,
    );
  for (const b of r.backends) {
    expect(b.matmulPeakGflops).toBeGreaterThan(0);
    expect(b.results.map((x) => x.workers)).toEqual([1, 2]);
    // Threads are split between the workers on tensorflow; wasm is single-threaded.
    if (b.backend === "wasm") expect(b.threadsPerWorker).toEqual({ "1": 1, "2": 1 });
    else expect(b.threadsPerWorker["2"]).toBe(Math.max(1, Math.floor(b.threadsPerWorker["1"] / 2)));
    const [one, two] = b.results;
    expect(one.scalingEfficiency).toBe(1);
    expect(one.scalingAtEqualThreads).toBe(1);
    // Against one worker on the same threads per worker: wasm's are equal anyway; on tensorflow the
    // 1-worker baseline had twice the threads, so an extra pinned run is the baseline.
    if (b.threadsPerWorker["2"] === b.threadsPerWorker["1"])
      expect(two.scalingAtEqualThreads).toBeCloseTo(two.scalingEfficiency, 6);
    expect(two.scalingAtEqualThreads).toBeGreaterThan(0);
    // Scaling is the 2-worker throughput against twice the 1-worker one.
    expect(two.scalingEfficiency).toBeCloseTo(two.samplesPerSecond / (2 * one.samplesPerSecond), 6);
    for (const x of b.results) {
      expect(b.samplesPerSecond[String(x.workers)]).toBe(x.samplesPerSecond);
      expect(b.mfu[String(x.workers)]).toBe(x.mfu);
      expect(x.samplesPerSecond).toBeGreaterThan(0);
      const split = Object.values(x.phases).reduce((a, c) => a + c, 0);
      expect(split).toBeGreaterThan(0);
      expect(split).toBeLessThanOrEqual(x.stepSeconds * 1.05); // the phases are parts of the step
      expect(x.allreduceShare).toBeCloseTo(x.phases.allreduce / x.stepSeconds, 6);
      expect(x.peakRssBytes).toBeGreaterThan(50 * 2 ** 20);
      expect(x.totalParameters).toBeGreaterThan(0);
      expect(x.mfu).toBeGreaterThan(0);
      expect(x.mfu).toBeLessThan(1);
    }
  }
}, 900_000);

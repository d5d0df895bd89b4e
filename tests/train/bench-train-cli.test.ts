// `radfleet bench train`, shortened: real trainer processes with 1 and then 2 workers. Figures are
// printed, not asserted (the machine is shared); the test checks that the benchmark measures what
// it says: both worker counts, the step split, scaling against the 1-worker run, memory and MFU.
import { spawn } from "node:child_process";
import path from "node:path";
import { expect, test } from "vitest";

const BIN = path.join(import.meta.dirname, "../../bin/radfleet.js");

interface Row {
  workers: number;
  stepSeconds: number;
  samplesPerSecond: number;
  phases: Record<"data" | "forwardBackward" | "allreduce" | "optimizer", number>;
  peakRssBytes: number;
  totalParameters: number;
  scalingEfficiency: number;
  allreduceShare: number;
  mfu: number;
}

test("measures 1 and 2 workers: throughput, step split, scaling, memory and MFU, as JSON", async () => {
  const child = spawn(process.execPath, [BIN, "bench", "train", "--steps", "6", "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(code, err).toBe(0);
  const r = JSON.parse(out) as { matmulPeakFlops: number; backend: string; results: Row[] };
  console.log(
    JSON.stringify(
      r.results.map((x) => ({ workers: x.workers, sps: x.samplesPerSecond, eff: x.scalingEfficiency })),
    ),
  );
  expect(r.matmulPeakFlops).toBeGreaterThan(0);
  expect(r.results.map((x) => x.workers)).toEqual([1, 2]);
  const [one, two] = r.results;
  expect(one.scalingEfficiency).toBe(1);
  // Scaling is the 2-worker throughput against twice the 1-worker one.
  expect(two.scalingEfficiency).toBeCloseTo(two.samplesPerSecond / (2 * one.samplesPerSecond), 6);
  for (const x of r.results) {
    expect(x.samplesPerSecond).toBeGreaterThan(0);
    const split = Object.values(x.phases).reduce((a, b) => a + b, 0);
    expect(split).toBeGreaterThan(0);
    expect(split).toBeLessThanOrEqual(x.stepSeconds * 1.05); // the phases are parts of the step
    expect(x.allreduceShare).toBeCloseTo(x.phases.allreduce / x.stepSeconds, 6);
    expect(x.peakRssBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(x.totalParameters).toBeGreaterThan(0);
    expect(x.mfu).toBeGreaterThan(0);
    expect(x.mfu).toBeLessThan(1);
  }
}, 180_000);

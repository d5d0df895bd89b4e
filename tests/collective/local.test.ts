// In-process checks: fp16 rounding, generation fencing on one listener, metrics, options, bench maths.
import { afterEach, describe, expect, test } from "vitest";
import { newRegistry } from "../../common/metrics.js";
import { parseSize, toRow } from "../../bench/allreduce.js";
import { decodeF16, encodeF16 } from "../../trainer/collective/fp16.js";
import { bucketViews } from "../../trainer/collective/buckets.js";
import { allReduceTensors, broadcastTensors } from "../../trainer/collective/tensors.js";
import * as tf from "@tensorflow/tfjs";
import {
  Collective,
  CollectiveError,
  CollectiveListener,
  roundToF16,
} from "../../trainer/collective/index.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function listeners(n: number): Promise<CollectiveListener[]> {
  const ls = await Promise.all(Array.from({ length: n }, () => CollectiveListener.listen("127.0.0.1", 0)));
  cleanup.push(async () => void (await Promise.all(ls.map((l) => l.close()))));
  return ls;
}

describe("fp16", () => {
  test("round to nearest even, subnormals, overflow", () => {
    expect(roundToF16(1)).toBe(1);
    expect(roundToF16(65504)).toBe(65504);
    expect(roundToF16(65520)).toBe(Infinity); // halfway to 2^16 rounds up (even) -> overflow
    expect(roundToF16(1 + 2 ** -11)).toBe(1); // tie -> even
    expect(roundToF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // tie -> even (up)
    expect(roundToF16(2 ** -24)).toBe(2 ** -24); // smallest subnormal
    expect(roundToF16(2 ** -25)).toBe(0); // tie -> even (zero)
    expect(roundToF16(-0.1)).toBe(-0.0999755859375);
    expect(Number.isNaN(roundToF16(NaN))).toBe(true);
  });

  test("encode/decode round trip is within 2^-11 relative for normal values", () => {
    const x = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i) * 2 ** ((i % 20) - 10));
    const h = new Uint16Array(x.length);
    const y = new Float32Array(x.length);
    encodeF16(x, h);
    decodeF16(h, y);
    for (let i = 0; i < x.length; i++)
      expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
  });
});

/** Two ranks of generation 1 in this process, closed after the test. */
async function twoRanks(extra: { registry?: ReturnType<typeof newRegistry>; bucketBytes?: number } = {}) {
  const ls = await listeners(2);
  const peers = ls.map((l) => l.address);
  const cs = await Promise.all(
    ls.map((listener, rank) =>
      Collective.connect({ rank, worldSize: 2, generation: 1, peers, listener, ...extra }),
    ),
  );
  cleanup.push(async () => void (await Promise.all(cs.map((c) => c.close()))));
  return cs;
}

describe("one process, two ranks", () => {
  test("metrics are recorded on the given registry", async () => {
    const reg = newRegistry();
    const cs = await twoRanks({ registry: reg, bucketBytes: 64 });
    await Promise.all(
      cs.map((c, r) => c.allReduceMany([new Float32Array(10).fill(r), new Float32Array(30).fill(1)], "sum")),
    );
    const text = await reg.metrics();
    expect(text).toMatch(/radfleet_collective_allreduce_duration_seconds_count\{compression="none"\} 4/);
    expect(text).toMatch(/radfleet_collective_buckets_total 4/); // both ranks, 2 buckets each
    expect(text).toMatch(/radfleet_collective_sent_bytes_total [1-9]/);
    expect(text).toMatch(/radfleet_collective_received_bytes_total [1-9]/);
  });

  test("a flat buffer all-reduced in bucket-sized views is summed in place, one bucket at a time", async () => {
    const reg = newRegistry();
    const cs = await twoRanks({ registry: reg, bucketBytes: 1024 });
    const bufs = [0, 1].map((r) => Float32Array.from({ length: 1000 }, (_, i) => i * (r + 1)));
    const views = bufs.map((b) => bucketViews(b, 1024));
    expect(views[0].map((v) => v.length)).toEqual([256, 256, 256, 232]);
    await Promise.all(cs.map((c, r) => c.allReduceMany(views[r], "sum")));
    for (const b of bufs) expect(Array.from(b)).toEqual(Array.from({ length: 1000 }, (_, i) => 3 * i));
    expect(await reg.metrics()).toMatch(/radfleet_collective_buckets_total 8/); // 2 ranks x 4 buckets
  });

  test("tensors go through the thin adapter: all-reduced and broadcast with their shapes", async () => {
    const cs = await twoRanks();
    const inputs = [0, 1].map((r) => [
      tf.tensor2d([1 + r, 2, 3, 4 * (r + 1)], [2, 2]),
      tf.tensor1d([10 * (r + 1), 0.5]),
    ]);
    const sums = await Promise.all(cs.map((c, r) => allReduceTensors(c, inputs[r], "mean")));
    for (const out of sums) {
      expect(out[0].shape).toEqual([2, 2]);
      expect(Array.from(out[0].dataSync())).toEqual([1.5, 2, 3, 6]);
      expect(Array.from(out[1].dataSync())).toEqual([15, 0.5]);
    }
    // The inputs are untouched.
    expect(Array.from(inputs[1][0].dataSync())).toEqual([2, 2, 3, 8]);
    const bc = await Promise.all(cs.map((c, r) => broadcastTensors(c, inputs[r], 1)));
    for (const out of bc) expect(Array.from(out[1].dataSync())).toEqual([20, 0.5]);
    await expect(allReduceTensors(cs[0], [tf.tensor1d([1], "int32")], "sum")).rejects.toThrow(
      /tensors\[0\]: expected float32, got int32/,
    );
  });

  test("a stale generation is refused; a newer one works on the same listeners", async () => {
    const ls = await listeners(2);
    const peers = ls.map((l) => l.address);
    const connect = (generation: number, extra: object = {}) =>
      Promise.all(
        ls.map((listener, rank) =>
          Collective.connect({ rank, worldSize: 2, generation, peers, listener, ...extra }),
        ),
      );
    const g2 = await connect(2);
    await g2[0].close();
    await g2[1].close();
    // Generation 1 is older than what both listeners have seen: refused, typed.
    const err = await Collective.connect({
      rank: 0,
      worldSize: 2,
      generation: 1,
      peers,
      listener: ls[0],
      connectTimeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CollectiveError);
    expect((err as CollectiveError).code).toBe("PROTOCOL");
    const g3 = await connect(3);
    cleanup.push(async () => void (await Promise.all(g3.map((c) => c.close()))));
    const out = await Promise.all(g3.map((c, r) => c.allReduce(Float32Array.of(r + 1, 2), "mean")));
    expect(Array.from(out[0])).toEqual([1.5, 2]);
  });

  test("abort signal fails pending operations with ABORTED", async () => {
    const ls = await listeners(2);
    const peers = ls.map((l) => l.address);
    const ac = new AbortController();
    const cs = await Promise.all(
      ls.map((listener, rank) =>
        Collective.connect({ rank, worldSize: 2, generation: 1, peers, listener, signal: ac.signal }),
      ),
    );
    cleanup.push(async () => void (await Promise.all(cs.map((c) => c.close()))));
    const pending = cs[0].allReduce(new Float32Array(8), "sum"); // rank 1 never joins
    ac.abort("generation ended");
    await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
    await expect(cs[0].barrier()).rejects.toMatchObject({ code: "ABORTED" });
  });

  test("bad options are refused with the field named", async () => {
    const [l] = await listeners(1);
    await expect(
      Collective.connect({ rank: 2, worldSize: 2, generation: 1, peers: ["a:1", "b:2"], listener: l }),
    ).rejects.toThrow(/options.rank/);
    await expect(
      Collective.connect({ rank: 0, worldSize: 2, generation: 1, peers: ["a:1"], listener: l }),
    ).rejects.toThrow(/options.peers/);
  });
});

describe("bench maths", () => {
  test("sizes and busbw as nccl-tests defines them", () => {
    expect(parseSize("1MiB")).toBe(1 << 20);
    expect(parseSize("64MiB")).toBe(64 << 20);
    expect(parseSize("4097")).toBe(4096);
    expect(() => parseSize("lots")).toThrow(/--sizes/);
    const row = toRow({ bytes: 1e9, seconds: 1, rawSeconds: 0.5, wrong: 0 }, 4);
    expect(row.algbw_GBps).toBe(1);
    expect(row.busbw_GBps).toBe(1.5); // 2(N-1)/N = 1.5 for N = 4
    expect(row.tcp_baseline_GBps).toBe(2);
    expect(row.busbw_over_baseline).toBe(0.75);
  });

  test("a slow small size keeps its figures (significant digits, not rounded to 0)", () => {
    // 4 KiB in 12.6 ms between 2 workers: 0.000325 GB/s, which 3 decimals printed as 0.
    const row = toRow({ bytes: 4096, seconds: 0.012585, rawSeconds: 0.004, wrong: 0 }, 2);
    expect(row.busbw_GBps).toBeGreaterThan(0);
    expect(row.busbw_GBps).toBeCloseTo(4096 / 0.012585 / 1e9, 6);
    expect(row.time_ms).toBe(12.59);
  });
});

// Ring collectives between real worker processes over loopback TCP.
import { afterEach, describe, expect, test } from "vitest";
import { roundToF16 } from "../../trainer/collective/index.js";
import { connectAll, startWorkers, stopWorkers, type Reply, type WorkerProc } from "./group.js";
import { inputs } from "./inputs.js";

let ws: WorkerProc[] = [];
afterEach(() => stopWorkers(ws));

// 1 element, fewer elements than ranks, primes, sizes not divisible by 2, 3 or 4, several pieces.
const SIZES = [1, 2, 3, 5, 97, 1009, 65_537];

interface Result {
  n: number;
  hash: string;
  values: number[];
}

/** |float32 ring sum - exact| <= (roundings) * 2^-24 * sum |x_i|: one rounding per addition (+1 for mean). */
function checkAgainstFloat64(
  results: Result[],
  n: number,
  op: "sum" | "mean",
  salt: number,
  roundings: number,
  unit: number,
) {
  for (const r of results) {
    const xs = Array.from({ length: n }, (_, rank) => inputs(salt, rank, r.n));
    let worst = 0;
    for (let i = 0; i < r.values.length; i++) {
      let exact = 0;
      let abs = 0;
      for (const x of xs) {
        exact += x[i];
        abs += Math.abs(x[i]);
      }
      const scale = op === "mean" ? 1 / n : 1;
      const bound = roundings * unit * abs * scale + 2 ** -140;
      worst = Math.max(worst, Math.abs(r.values[i] - exact * scale) / bound);
    }
    expect(worst, `size ${r.n}: error / bound`).toBeLessThanOrEqual(1);
  }
}

function expectSameBits(replies: Reply[]) {
  const first = (replies[0].results as Result[]).map((r) => r.hash);
  for (const rep of replies) {
    expect(rep.error).toBeUndefined();
    expect((rep.results as Result[]).map((r) => r.hash)).toEqual(first);
  }
}

describe.each([2, 3, 4])("%i ranks", (n) => {
  test("sum and mean: float64 reference within float32 rounding, identical bits, odd sizes", async () => {
    ws = await startWorkers(n);
    await connectAll(ws, 1);
    for (const op of ["sum", "mean"] as const) {
      const salt = op === "sum" ? 11 : 12;
      const replies = await Promise.all(ws.map((w) => w.call({ cmd: "exact", sizes: SIZES, op, salt })));
      expectSameBits(replies);
      checkAgainstFloat64(replies[0].results as Result[], n, op, salt, n, 2 ** -24);
    }
  });

  test("fused buckets, broadcast, variable-length all-gather, barrier", async () => {
    ws = await startWorkers(n);
    await connectAll(ws, 1);
    // Bucket is 4096 bytes in the worker: these lengths make several fused buckets and one alone.
    const lengths = [1, 7, 300, 1000, 5000, 2, 999];
    const many = await Promise.all(ws.map((w) => w.call({ cmd: "many", lengths, bucketBytes: 4096 })));
    for (const rep of many) expect(rep.results).toEqual(many[0].results);
    const got = many[0].results as number[][];
    lengths.forEach((len, t) => {
      const xs = Array.from({ length: n }, (_, rank) => inputs(1000 + t, rank, len));
      for (let i = 0; i < len; i++) {
        const exact = xs.reduce((s, x) => s + x[i], 0);
        const abs = xs.reduce((s, x) => s + Math.abs(x[i]), 0);
        expect(Math.abs(got[t][i] - exact)).toBeLessThanOrEqual(n * 2 ** -24 * abs);
      }
    });

    const misc = await Promise.all(ws.map((w) => w.call({ cmd: "misc" })));
    const root = inputs(7, n - 1, 333_333);
    const { createHash } = await import("node:crypto");
    const rootHash = createHash("sha256").update(new Uint8Array(root.buffer)).digest("hex");
    const expectGathered = Array.from({ length: n }, (_, r) => `rank ${r} says ${"x".repeat(r * 3)}`);
    for (const rep of misc) {
      expect(rep.error).toBeUndefined();
      expect(rep.bcast).toBe(rootHash);
      expect(rep.gathered).toEqual(expectGathered);
      expect(rep.empty).toBe(0);
    }
  });

  test("fp16 compression: identical bits, within the documented bound", async () => {
    ws = await startWorkers(n);
    await connectAll(ws, 1, { compression: "fp16" });
    const replies = await Promise.all(
      ws.map((w) => w.call({ cmd: "exact", sizes: SIZES, op: "sum", salt: 13 })),
    );
    expectSameBits(replies);
    // README bound: N fp16 roundings (each hop's partial sum, and the owner's final value), 2^-11 relative.
    checkAgainstFloat64(replies[0].results as Result[], n, "sum", 13, n + 1, 2 ** -11);
    // And the result really is fp16-representable (the owner rounded it).
    for (const r of replies[0].results as Result[]) for (const v of r.values) expect(roundToF16(v)).toBe(v);
  });
});

describe("failures", () => {
  test.each([2, 3, 4])(
    "%i ranks: a peer killed mid-operation -> PEER_LOST on all others; next generation works",
    async (n) => {
      ws = await startWorkers(n);
      await connectAll(ws, 1, { timeoutMs: 3000 });
      const victim = n - 1;
      for (const w of ws) w.child.send({ cmd: "loop", elems: 1 << 20 });
      for (const w of ws) expect((await w.next()).started).toBe(true);
      const pending = ws.map((w, i) => (i === victim ? Promise.resolve({}) : w.next(20_000)));
      await new Promise((r) => setTimeout(r, 300)); // let a few all-reduces run
      const killedAt = Date.now();
      ws[victim].child.kill("SIGKILL");
      const survivors = ws.filter((_, i) => i !== victim);
      const replies: Reply[] = await Promise.all(pending.filter((_, i) => i !== victim));
      for (const rep of replies) {
        expect(rep.error?.code).toBe("PEER_LOST");
        // The bound: timeoutMs (3000) at most; a killed peer's sockets close at once.
        expect(rep.error!.at - killedAt).toBeLessThan(3000);
      }

      // Generation 2 from the same listeners, survivors renumbered.
      if (survivors.length >= 1) {
        ws = survivors.concat(ws[victim]);
        await connectAll(survivors, 2);
        const again = await Promise.all(
          survivors.map((w) => w.call({ cmd: "exact", sizes: [1, 1009], op: "sum", salt: 21 })),
        );
        expectSameBits(again);
        checkAgainstFloat64(
          again[0].results as Result[],
          survivors.length,
          "sum",
          21,
          survivors.length,
          2 ** -24,
        );
      }
    },
  );

  test("a stalled peer (SIGSTOP) -> TIMEOUT or PEER_LOST on all others within the bound", async () => {
    ws = await startWorkers(3);
    await connectAll(ws, 1, { timeoutMs: 1000 });
    for (const w of ws) w.child.send({ cmd: "loop", elems: 1 << 18 });
    for (const w of ws) expect((await w.next()).started).toBe(true);
    const pending = [ws[0].next(20_000), undefined, ws[2].next(20_000)];
    await new Promise((r) => setTimeout(r, 200));
    const stoppedAt = Date.now();
    ws[1].child.kill("SIGSTOP");
    const replies: Reply[] = await Promise.all([pending[0]!, pending[2]!]);
    ws[1].child.kill("SIGCONT");
    const codes = replies.map((r) => r.error?.code).sort();
    expect(codes).toContain("TIMEOUT");
    for (const rep of replies) {
      expect(["TIMEOUT", "PEER_LOST"]).toContain(rep.error?.code);
      expect(rep.error!.at - stoppedAt).toBeLessThan(1000 + 1500);
    }
  });
});

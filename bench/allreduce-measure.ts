// The measuring loop of `radfleet bench allreduce`, shared by both ways of starting it: worker
// processes forked on this machine (allreduce-worker.ts) and workers started one per pod that meet
// through a coordinator (allreduce-join.ts). Every rank runs it with the same plan.
//
// Timing: after a warm-up, `iters` all-reduces, each interleaved with one raw baseline transfer
// (same processes, same ring pattern, same byte count) so both see the same machine load; each
// operation starts from a barrier and counts at its slowest rank; medians are reported (nccl-tests
// reports means of back-to-back runs; on a shared two-core machine medians are far steadier).

import type { Collective } from "../trainer/collective/index.js";
import type { RawRing } from "../trainer/collective/index.js";

export interface MeasurePlan {
  sizes: number[];
  iters: number;
  warmup: number;
  timeoutMs: number;
}

export interface SizeResult {
  bytes: number;
  /** Median seconds per all-reduce (each timed at its slowest rank). */
  seconds: number;
  /** Median seconds per raw ring transfer of the same byte count (slowest rank). */
  rawSeconds: number;
  /** Elements that differ from the expected sum after the warm-up all-reduce (any rank). */
  wrong: number;
}

/** Runs the plan on every rank; every rank returns the same results. `ring` is absent for one rank. */
export async function measure(
  coll: Collective,
  ring: RawRing | undefined,
  plan: MeasurePlan,
): Promise<SizeResult[]> {
  const slowest = async (seconds: number): Promise<number> => {
    const all = await coll.allGather(new Uint8Array(new Float64Array([seconds]).buffer));
    return Math.max(...all.map((b) => new Float64Array(b.buffer, b.byteOffset, 1)[0]));
  };
  const out: SizeResult[] = [];
  for (const bytes of plan.sizes) {
    const source = Buffer.alloc(bytes, 7); // raw baseline payload
    const data = new Float32Array(bytes / 4); // [elems]

    // Warm-up; the first all-reduce also checks the result (inputs rank+1, so the sum is exact).
    const expected = (coll.worldSize * (coll.worldSize + 1)) / 2;
    let wrong = 0;
    for (let i = 0; i < Math.max(1, plan.warmup); i++) {
      await ring?.transfer(source, plan.timeoutMs * 10);
      data.fill(coll.rank + 1);
      await coll.allReduce(data, "sum");
      if (i === 0) for (let j = 0; j < data.length; j++) if (data[j] !== expected) wrong++;
    }

    // Timed: baseline and all-reduce interleaved, so both see the same machine load; each
    // operation starts from a barrier and counts at its slowest rank; the median is reported.
    const raws: number[] = [];
    const ars: number[] = [];
    const cpu = { raw: { user: 0, system: 0 }, ar: { user: 0, system: 0 } };
    const tally = (into: { user: number; system: number }, c: NodeJS.CpuUsage): void => {
      into.user += c.user / 1000;
      into.system += c.system / 1000;
    };
    for (let i = 0; i < plan.iters; i++) {
      await coll.barrier();
      let t0 = performance.now();
      let c0 = process.cpuUsage();
      await ring?.transfer(source, plan.timeoutMs * 10);
      tally(cpu.raw, process.cpuUsage(c0));
      raws.push(await slowest((performance.now() - t0) / 1000));
      await coll.barrier();
      t0 = performance.now();
      c0 = process.cpuUsage();
      await coll.allReduce(data, "sum");
      tally(cpu.ar, process.cpuUsage(c0));
      ars.push(await slowest((performance.now() - t0) / 1000));
    }
    if (process.env.RADFLEET_BENCH_DEBUG)
      process.stderr.write(
        `rank ${coll.rank} ${bytes}B cpu ms over ${plan.iters} iters: ${JSON.stringify(cpu)}\n`,
      );
    const wrongAll = await coll.allGather(new Uint8Array(new Float64Array([wrong]).buffer));
    wrong = wrongAll.reduce((s, b) => s + new Float64Array(b.buffer, b.byteOffset, 1)[0], 0);
    out.push({ bytes, seconds: median(ars), rawSeconds: median(raws), wrong });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Tuning knob for experiments (RADFLEET_BENCH_PIECE_BYTES); the product default applies when unset. */
export function pieceBytesFromEnv(): { pieceBytes?: number } {
  const v = Number(process.env.RADFLEET_BENCH_PIECE_BYTES);
  return Number.isInteger(v) && v > 0 ? { pieceBytes: v } : {};
}

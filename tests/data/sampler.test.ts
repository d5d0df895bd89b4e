import { describe, expect, it } from "vitest";
import { ShardedSampler, epochPermutation } from "../../trainer/data/index.js";

/** Runs one full epoch at world size W and returns every rank's indices, step by step. */
function epoch(n: number, seed: number, W: number, B: number, e = 0): number[][][] {
  const samplers = Array.from(
    { length: W },
    (_, rank) =>
      new ShardedSampler({
        datasetSize: n,
        seed,
        rank,
        worldSize: W,
        batchSize: B,
        state: { seed, epoch: e, consumed: 0 },
      }),
  );
  const steps: number[][][] = [];
  for (let s = 0; s < Math.floor(n / (W * B)); s++) {
    const row = samplers.map((x) => x.next());
    for (const r of row) expect(r.epoch).toBe(e);
    steps.push(row.map((r) => r.indices));
  }
  return steps;
}

describe("ShardedSampler", () => {
  it("shards an epoch exactly: every sample once across ranks, only a remainder under W*B dropped", () => {
    const n = 103;
    for (const [W, B] of [
      [1, 4],
      [3, 5],
      [4, 2],
      [2, 51],
    ]) {
      const all = epoch(n, 11, W, B).flat(2);
      expect(new Set(all).size).toBe(all.length); // no duplicates
      expect(all.length).toBe(Math.floor(n / (W * B)) * W * B);
      expect(n - all.length).toBeLessThan(W * B);
      for (const i of all) expect(i >= 0 && i < n).toBe(true);
    }
  });

  it("is deterministic from (seed, epoch) and differs across epochs and seeds", () => {
    expect(epoch(50, 3, 2, 4)).toEqual(epoch(50, 3, 2, 4));
    expect(epoch(50, 3, 2, 4, 1)).not.toEqual(epoch(50, 3, 2, 4, 0));
    expect(epoch(50, 4, 2, 4)).not.toEqual(epoch(50, 3, 2, 4));
    const p = epochPermutation(1000, 9, 2);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("rolls into the next epoch after the last full step, with a new order", () => {
    const s = new ShardedSampler({ datasetSize: 10, seed: 1, rank: 0, worldSize: 1, batchSize: 3 });
    const first = [s.next(), s.next(), s.next()];
    expect(first.every((b) => b.epoch === 0)).toBe(true);
    expect(s.state()).toEqual({ seed: 1, epoch: 0, consumed: 9 });
    const next = s.next();
    expect(next.epoch).toBe(1);
    expect(s.state()).toEqual({ seed: 1, epoch: 1, consumed: 3 });
  });

  it("resumes mid-epoch from a saved state with exactly the batches an uninterrupted run would get", () => {
    const mk = (rank: number, state?: { seed: number; epoch: number; consumed: number }) =>
      new ShardedSampler({ datasetSize: 97, seed: 5, rank, worldSize: 3, batchSize: 4, state });
    const straight = [0, 1, 2].map((r) => mk(r));
    const ref: number[][][] = [];
    for (let i = 0; i < 20; i++) ref.push(straight.map((s) => s.next().indices)); // crosses an epoch boundary
    const first = [0, 1, 2].map((r) => mk(r));
    for (let i = 0; i < 5; i++) first.forEach((s) => s.next());
    const saved = JSON.parse(JSON.stringify(first[0].state())) as {
      seed: number;
      epoch: number;
      consumed: number;
    };
    expect(saved).toEqual({ seed: 5, epoch: 0, consumed: 60 });
    const resumed = [0, 1, 2].map((r) => mk(r, saved));
    for (let i = 5; i < 20; i++) expect(resumed.map((s) => s.next().indices)).toEqual(ref[i]);
  });

  it("re-shards when the world size changes mid-epoch: no sample twice, the cursor is global", () => {
    const n = 120;
    const seed = 8;
    const B = 5;
    const seen: number[] = [];
    // Generation 1: 4 ranks for 3 steps.
    let ranks = [0, 1, 2, 3].map(
      (rank) => new ShardedSampler({ datasetSize: n, seed, rank, worldSize: 4, batchSize: B }),
    );
    for (let i = 0; i < 3; i++) ranks.forEach((s) => seen.push(...s.next().indices));
    const cursor = ranks[0].state();
    expect(cursor.consumed).toBe(60);
    // Generation 2: a worker died; 3 ranks resume from the committed cursor.
    ranks = [0, 1, 2].map(
      (rank) => new ShardedSampler({ datasetSize: n, seed, rank, worldSize: 3, batchSize: B, state: cursor }),
    );
    for (let i = 0; i < 4; i++)
      ranks.forEach((s) => {
        const b = s.next();
        expect(b.epoch).toBe(0);
        seen.push(...b.indices);
      });
    expect(seen.length).toBe(120);
    expect(new Set(seen).size).toBe(120);
    // And it is the same epoch order a single rank would have walked.
    expect(seen).toEqual([...epochPermutation(n, seed, 0)]);
  });

  it("refuses bad shapes with a message naming the field", () => {
    expect(
      () => new ShardedSampler({ datasetSize: 10, seed: 0, rank: 2, worldSize: 2, batchSize: 1 }),
    ).toThrow(/rank 2/);
    expect(
      () => new ShardedSampler({ datasetSize: 10, seed: 0, rank: 0, worldSize: 3, batchSize: 4 }),
    ).toThrow(/exceeds/);
    expect(
      () => new ShardedSampler({ datasetSize: 10, seed: 0, rank: 0, worldSize: 1, batchSize: 0 }),
    ).toThrow(/batchSize/);
  });
});

// The rank rules a rendezvous round closes with (controller/coordinator/rank-assignment.ts): ranks
// are stable across generations where possible, because a rank is a data shard and a ring position.
import { describe, expect, it } from "vitest";
import { assignRanks } from "../../controller/coordinator/rank-assignment.js";

const joins = (...ids: string[]) => ids.map((workerId) => ({ workerId }));
const ranksOf = (r: { worker: { workerId: string }; rank: number }[]) =>
  Object.fromEntries(r.map(({ worker, rank }) => [worker.workerId, rank]));
const bounds = (minWorkers: number, maxWorkers: number) => ({ minWorkers, maxWorkers });

describe("assignRanks", () => {
  it("first round: ranks in arrival order", () => {
    const r = assignRanks(joins("c", "a", "b"), new Map(), bounds(1, 4));
    expect(r.map((x) => [x.worker.workerId, x.rank])).toEqual([
      ["c", 0],
      ["a", 1],
      ["b", 2],
    ]);
  });

  it("the same workers again keep their ranks whatever order they rejoin in", () => {
    const prev = new Map([
      ["a", 0],
      ["b", 1],
      ["c", 2],
    ]);
    expect(ranksOf(assignRanks(joins("c", "b", "a"), prev, bounds(1, 3)))).toEqual({ a: 0, b: 1, c: 2 });
  });

  it("a worker leaving: survivors keep the ranks that still exist, the rest fill the gaps", () => {
    const prev = new Map([
      ["a", 0],
      ["b", 1],
      ["c", 2],
      ["d", 3],
    ]);
    // b left: the world shrinks to 3, so d's rank 3 no longer exists and d takes the free rank 1.
    expect(ranksOf(assignRanks(joins("d", "c", "a"), prev, bounds(1, 4)))).toEqual({ a: 0, c: 2, d: 1 });
  });

  it("a worker joining: old members keep their ranks, the newcomer gets the next one", () => {
    const prev = new Map([
      ["a", 0],
      ["b", 1],
    ]);
    expect(ranksOf(assignRanks(joins("new", "b", "a"), prev, bounds(1, 4)))).toEqual({ a: 0, b: 1, new: 2 });
  });

  it("a newcomer replacing a lost worker takes the lost worker's rank", () => {
    const prev = new Map([
      ["a", 0],
      ["b", 1],
      ["c", 2],
    ]);
    expect(ranksOf(assignRanks(joins("a", "x", "c"), prev, bounds(1, 3)))).toEqual({ a: 0, c: 2, x: 1 });
  });

  it("answers previous members first (old rank order), then newcomers in arrival order", () => {
    const prev = new Map([
      ["a", 1],
      ["b", 0],
    ]);
    const r = assignRanks(joins("y", "a", "x", "b"), prev, bounds(1, 4));
    expect(r.map((x) => x.worker.workerId)).toEqual(["b", "a", "y", "x"]);
  });

  it("max bound: previous members are chosen before newcomers; the rest wait", () => {
    const prev = new Map([
      ["a", 0],
      ["b", 1],
    ]);
    const r = assignRanks(joins("x", "y", "b", "a"), prev, bounds(1, 3));
    expect(ranksOf(r)).toEqual({ a: 0, b: 1, x: 2 });
    expect(r).toHaveLength(3);
  });

  it("ranks are 0..n-1, each once, and the worker objects pass through", () => {
    const joined = [
      { workerId: "p", addr: "h:1" },
      { workerId: "q", addr: "h:2" },
      { workerId: "r", addr: "h:3" },
    ];
    const prev = new Map([
      ["r", 5],
      ["q", 0],
    ]);
    const r = assignRanks(joined, prev, bounds(1, 8));
    expect(r.map((x) => x.rank).sort()).toEqual([0, 1, 2]);
    expect(r.find((x) => x.worker.workerId === "r")!.worker).toBe(joined[2]);
    expect(ranksOf(r)).toEqual({ q: 0, r: 1, p: 2 });
  });

  it("min bound: fewer joins than minWorkers is refused, naming the input", () => {
    expect(() => assignRanks(joins("a"), new Map(), bounds(2, 4))).toThrow(
      /joined has 1 workers, fewer than minWorkers \(2\)/,
    );
    expect(assignRanks(joins("a", "b"), new Map(), bounds(2, 4))).toHaveLength(2);
  });
});

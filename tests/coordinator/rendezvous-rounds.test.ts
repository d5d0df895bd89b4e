// Rendezvous rounds on their own (controller/coordinator/rendezvous.ts), on a fake clock: when a
// round closes, what each join is answered, and how waiting joins fail. The gRPC-level behaviour
// is in rendezvous.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CoordinatorError } from "../../controller/coordinator/errors.js";
import { Rendezvous, type Member, type Placement } from "../../controller/coordinator/rendezvous.js";
import { isSettled } from "../helpers/promises.js";

interface Formed {
  members: Member[];
  openedAtMs: number;
}

function rendezvous(o: { min: number; max: number; lastCallMs?: number; joinTimeoutMs?: number }) {
  const formed: Formed[] = [];
  let running = false;
  let closed = false;
  const r = new Rendezvous({
    minWorkers: o.min,
    maxWorkers: o.max,
    lastCallMs: o.lastCallMs ?? 1_000,
    joinTimeoutMs: o.joinTimeoutMs ?? 60_000,
    canClose: () => !running && !closed,
    formGeneration(members, openedAtMs) {
      formed.push({ members, openedAtMs });
      running = true;
      return { generation: formed.length, resumeFrom: null };
    },
  });
  const join = (id: string): Promise<Placement> => {
    const p = r.wait(id, `${id}:9000`);
    r.evaluate();
    return p;
  };
  return {
    r,
    formed,
    join,
    endGeneration() {
      running = false;
      r.evaluate();
    },
    shutDown() {
      closed = true;
    },
  };
}

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe("Rendezvous", () => {
  it("closes at once when max workers have joined, with one shared peer list in rank order", async () => {
    const t = rendezvous({ min: 1, max: 2 });
    const a = t.join("a");
    const b = t.join("b");
    const [pa, pb] = await Promise.all([a, b]);
    expect(pa).toMatchObject({ generation: 1, rank: 0, worldSize: 2, peers: ["a:9000", "b:9000"] });
    expect(pb).toMatchObject({ generation: 1, rank: 1, worldSize: 2 });
    expect(pa.peers).toBe(pb.peers);
    expect(t.r.waitingWorkers()).toEqual([]);
  });

  it("once min are in, closes lastCallMs after the latest join, not the first", async () => {
    const t = rendezvous({ min: 1, max: 4, lastCallMs: 1_000 });
    const t0 = Date.now();
    const a = t.join("a");
    vi.advanceTimersByTime(800);
    const b = t.join("b");
    vi.advanceTimersByTime(800); // 1.6 s after a, 0.8 s after b
    expect(await isSettled(a)).toBe(false);
    vi.advanceTimersByTime(200);
    expect((await a).worldSize).toBe(2);
    expect((await b).rank).toBe(1);
    expect(t.formed).toHaveLength(1);
    expect(t.formed[0].openedAtMs).toBe(t0); // the round opened with the earliest join
  });

  it("does not close below min, and fails a join that no round took within the join timeout", async () => {
    const t = rendezvous({ min: 2, max: 4, lastCallMs: 10, joinTimeoutMs: 5_000 });
    const a = t.join("a");
    const failed = expect(a).rejects.toMatchObject({ code: "deadline-exceeded" });
    vi.advanceTimersByTime(4_999);
    expect(t.formed).toHaveLength(0);
    vi.advanceTimersByTime(1);
    await failed;
    await expect(a).rejects.toThrow(
      /no generation closed within the join timeout of 5000 ms \(waiting: 1, min 2\)/,
    );
    expect(t.r.waitingWorkers()).toEqual([]);
  });

  it("joins beyond max wait for the next round, which keeps the survivors' ranks", async () => {
    const t = rendezvous({ min: 2, max: 2, lastCallMs: 100 });
    const first = [t.join("a"), t.join("b")];
    const late = t.join("c");
    await Promise.all(first);
    expect(t.r.waitingWorkers()).toEqual(["c"]);
    // a left; b and c form the next generation; b keeps rank 1, c takes the free rank 0.
    const b = t.join("b");
    t.endGeneration();
    vi.advanceTimersByTime(100);
    expect(await b).toMatchObject({ generation: 2, rank: 1, worldSize: 2 });
    expect(await late).toMatchObject({ generation: 2, rank: 0, peers: ["c:9000", "b:9000"] });
  });

  it("drop fails the worker's join and re-evaluates the round without it", async () => {
    const t = rendezvous({ min: 2, max: 3, lastCallMs: 100 });
    const a = t.join("a");
    const b = t.join("b");
    t.r.drop("b", new CoordinatorError("cancelled", "worker b left"));
    await expect(b).rejects.toMatchObject({ code: "cancelled", message: "worker b left" });
    vi.advanceTimersByTime(1_000); // below min now: the last call was cancelled
    expect(t.formed).toHaveLength(0);
    t.r.drop("nobody", new Error("no effect"));
    const c = t.join("c");
    vi.advanceTimersByTime(100);
    expect((await a).worldSize).toBe(2);
    expect((await c).rank).toBe(1);
  });

  it("close fails every waiting join and forms nothing more", async () => {
    const t = rendezvous({ min: 2, max: 2, lastCallMs: 10 });
    const a = t.join("a");
    t.shutDown();
    t.r.close(new CoordinatorError("unavailable", "coordinator shut down; retry"));
    await expect(a).rejects.toMatchObject({ code: "unavailable" });
    t.join("b");
    vi.advanceTimersByTime(1_000);
    expect(t.formed).toHaveLength(0);
  });
});

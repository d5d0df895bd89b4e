// allGatherText / allGatherJson over a real two-rank ring on loopback (one process), and on one rank.
import { afterEach, describe, expect, test } from "vitest";
import {
  allGatherJson,
  allGatherText,
  Collective,
  CollectiveListener,
} from "../../trainer/collective/index.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function ranks(n: number): Promise<Collective[]> {
  const ls = await Promise.all(Array.from({ length: n }, () => CollectiveListener.listen("127.0.0.1", 0)));
  const peers = ls.map((l) => l.address);
  const cs = await Promise.all(
    ls.map((listener, rank) => Collective.connect({ rank, worldSize: n, generation: 1, peers, listener })),
  );
  cleanup.push(async () => {
    await Promise.all(cs.map((c) => c.close()));
    await Promise.all(ls.map((l) => l.close()));
  });
  return cs;
}

describe("all-gather of text and JSON", () => {
  test("every rank gets every rank's string in rank order, non-ASCII and empty strings intact", async () => {
    const cs = await ranks(2);
    const sent = ["sha256:ab12 — rank zero ✓", ""];
    const got = await Promise.all(cs.map((c, r) => allGatherText(c, sent[r])));
    expect(got).toEqual([sent, sent]);
  });

  test("records of different lengths come back parsed, indexed by rank, equal on every rank", async () => {
    const cs = await ranks(2);
    const sent = [
      [
        ["s1", [0.25, 0.5]],
        ["s3", [1, 0]],
      ],
      [["s2", [0.125, 0.75]]],
    ];
    const got = await Promise.all(cs.map((c, r) => allGatherJson(c, sent[r], (v) => v as (typeof sent)[0])));
    expect(got[0]).toEqual(sent);
    expect(got[1]).toEqual(got[0]);
    // Numbers survive the text round trip bit for bit (JSON prints the shortest exact decimal).
    const steps = await Promise.all(cs.map((c, r) => allGatherJson(c, r === 0 ? 0.1 + 0.2 : 7, Number)));
    expect(steps[1]).toEqual([0.1 + 0.2, 7]);
  });

  test("an item that fails its check fails the gather on every rank, naming the rank that sent it", async () => {
    const cs = await ranks(2);
    const isStep = (v: unknown): number => {
      if (typeof v !== "number") throw new Error(`expected a step, got ${JSON.stringify(v)}`);
      return v;
    };
    // Rank 1 sends a record where every rank expects a number.
    const sent: unknown[] = [3, { step: "3" }];
    const got = await Promise.all(
      cs.map((c, r) => allGatherJson(c, sent[r] as number, isStep).catch((e: unknown) => e)),
    );
    for (const err of got) {
      expect(err).toMatchObject({ code: "PROTOCOL", rank: 1 });
      expect((err as Error).message).toBe('all-gather item of rank 1: expected a step, got {"step":"3"}');
    }
    // Bytes that are not JSON at all: rank 0 sends them through the byte all-gather.
    const [, notJson] = await Promise.all([
      cs[1].allGather(new TextEncoder().encode("{oops")),
      allGatherJson(cs[0], 4, isStep).catch((e: unknown) => e),
    ]);
    expect(notJson).toMatchObject({ code: "PROTOCOL", rank: 1 });
    expect((notJson as Error).message).toMatch(/^all-gather item of rank 1 is not JSON: /);
  });

  test("on one rank the value comes back through the same JSON round trip", async () => {
    const [c] = await ranks(1);
    expect(await allGatherJson(c, { step: 4, skipped: undefined, at: [1, 2] }, (v) => v as never)).toEqual([
      { step: 4, at: [1, 2] },
    ]);
    expect(await allGatherText(c, "only")).toEqual(["only"]);
  });
});

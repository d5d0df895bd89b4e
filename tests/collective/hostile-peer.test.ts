// A ring peer that does not play by the protocol, on real loopback sockets: the test is rank 0 of
// a two-rank ring, speaking raw bytes to a real Collective (rank 1). It declares frames larger
// than any operation sends, floods frames ahead, trickles bytes to hold an operation open, and
// floods the listener with connections that never become ring links. Each must be refused early,
// with a message naming the peer, and must not cost the victim memory it was never sent.
import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { createLogger, type Logger } from "../../common/log.js";
import { newRegistry, type Registry } from "../../common/metrics.js";
import { Collective, CollectiveListener } from "../../trainer/collective/index.js";
import { encodeHeader, FrameKind } from "../../trainer/collective/frames.js";
import {
  Ack,
  dialPeer,
  EARLY_BYTES_LIMIT,
  encodeHello,
  HELLO_BYTES,
  parseAddress,
} from "../../trainer/collective/handshake.js";
import { MAX_HANDSHAKING, MAX_PENDING } from "../../trainer/collective/listener.js";
import { QUEUE_HIGH_WATER_BYTES } from "../../trainer/collective/ring-links.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "debug", sink: { write: (l) => void lines.push(l) } }), lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function receivedBytes(registry: Registry): Promise<number> {
  const text = await registry.getSingleMetricAsString("radfleet_collective_received_bytes_total");
  return Number(/ (\d+)\s*$/m.exec(text)?.[1] ?? 0);
}

/** Reads one byte (the listener's answer to a hello) or null when the socket closes without one. */
function answerOf(s: net.Socket): Promise<number | null> {
  return new Promise((resolve) => {
    s.once("data", (b: Buffer) => resolve(b[0]));
    s.once("close", () => resolve(null));
    s.on("error", () => {});
  });
}

async function connectTo(address: string): Promise<net.Socket> {
  const { host, port } = parseAddress(address);
  const s = net.connect({ host, port });
  s.on("error", () => {});
  await new Promise<void>((resolve) => s.once("connect", () => resolve()));
  cleanup.push(() => void s.destroy());
  return s;
}

/**
 * A real Collective as rank 1 whose left (and right) neighbour is this test: `feed` is the socket
 * whose bytes the victim reads as frames from rank 0.
 */
async function victimOfHostileLeft(
  o: { timeoutMs?: number; maxGatherBytes?: number } = {},
): Promise<{ victim: Collective; feed: net.Socket; lines: string[]; registry: Registry; address: string }> {
  const { log, lines } = capture();
  const registry = newRegistry();
  const listener = await CollectiveListener.listen("127.0.0.1", 0, { logger: log });
  cleanup.push(() => listener.close());
  let feedResolve!: (s: net.Socket) => void;
  const feedP = new Promise<net.Socket>((r) => (feedResolve = r));
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.once("data", () => {
      s.write(Buffer.from([Ack.accepted]));
      feedResolve(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  // The victim's send link: rank 0 dials in with a proper hello and drains what it is sent.
  const sendLink = await connectTo(listener.address);
  sendLink.write(encodeHello({ generation: 1, fromRank: 0, worldSize: 2 }));
  sendLink.resume();
  const victim = await Collective.connect({
    rank: 1,
    worldSize: 2,
    generation: 1,
    peers: [address, listener.address],
    listener,
    timeoutMs: o.timeoutMs ?? 5_000,
    maxGatherBytes: o.maxGatherBytes,
    registry,
    logger: log,
  });
  cleanup.push(() => victim.close());
  const feed = await feedP;
  cleanup.push(() => void feed.destroy());
  return { victim, feed, lines, registry, address };
}

describe("frames from a hostile left neighbour", () => {
  // First, so no garbage of another test can be collected inside its measurement.
  test("an all-gather item's buffer grows with the bytes that arrive, not with the length declared", async () => {
    const { victim, feed } = await victimOfHostileLeft({ timeoutMs: 300 });
    const before = process.memoryUsage().arrayBuffers;
    feed.write(encodeHeader(FrameKind.allGather, 0, 200 << 20)); // under the limit, never sent
    await sleep(100);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 << 20);
    const err = await victim.allGather(new Uint8Array(0)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TIMEOUT" });
  });

  test("a header declaring 1 GiB is refused at the header, naming the peer, without allocating it", async () => {
    const { victim, feed, lines, address } = await victimOfHostileLeft();
    const before = process.memoryUsage().arrayBuffers;
    feed.write(encodeHeader(FrameKind.allGather, 0, 1 << 30));
    const err = await victim.allGather(new Uint8Array(4)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "PROTOCOL", rank: 0 });
    expect((err as Error).message).toContain(`rank 0 at ${address}`);
    expect((err as Error).message).toMatch(/declares 1073741824 bytes, above its 268435456-byte limit/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    expect(lines.some((l) => l.includes('"event":"collective_failed"') && l.includes(address))).toBe(true);
  });

  test("an all-reduce frame larger than one piece, or of a kind no operation sends, is refused", async () => {
    const a = await victimOfHostileLeft();
    a.feed.write(encodeHeader(FrameKind.allReduce, 0, (1 << 20) + 4));
    const big = await a.victim.allReduce(new Float32Array(8), "sum").catch((e: unknown) => e);
    expect((big as Error).message).toMatch(
      /kind 1 \(all-reduce\) declares 1048580 bytes, above its 1048576-byte/,
    );

    const b = await victimOfHostileLeft();
    b.feed.write(encodeHeader(7, 0, 16));
    const odd = await b.victim.barrier().catch((e: unknown) => e);
    expect(odd).toMatchObject({ code: "PROTOCOL" });
    expect((odd as Error).message).toMatch(/frame of kind 7, which no collective operation sends/);
  });

  test("a neighbour running ahead is held back by TCP once the receive queue is full", async () => {
    const { victim, feed, registry } = await victimOfHostileLeft();
    // 96 MiB of well-formed all-gather frames for operations the victim has not started.
    const item = new Uint8Array(64 << 10);
    for (let i = 0; i < 1536; i++)
      feed.write(Buffer.concat([encodeHeader(FrameKind.allGather, i, item.length), item]));
    await sleep(500);
    const held = await receivedBytes(registry);
    // What the queue allows, plus what one read can bring past it.
    expect(held).toBeLessThan(QUEUE_HIGH_WATER_BYTES + (8 << 20));
    expect(feed.writableLength).toBeGreaterThan(32 << 20);
    // Taking frames off the queue lets reading go on, and the frames are intact.
    const got = await victim.allGather(new Uint8Array(1));
    expect(got[0].length).toBe(item.length);
    await victim.allGather(new Uint8Array(1));
    await sleep(200);
    expect(await receivedBytes(registry)).toBeGreaterThan(held);
  });

  test("a trickle of bytes does not hold an operation open past the timeout", async () => {
    const { victim, feed } = await victimOfHostileLeft({ timeoutMs: 400 });
    feed.write(encodeHeader(FrameKind.allGather, 0, 10_000));
    const trickle = setInterval(() => feed.write(Buffer.from([1])), 50);
    cleanup.push(() => clearInterval(trickle));
    const t0 = Date.now();
    const err = await victim.allGather(new Uint8Array(0)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TIMEOUT", rank: 0 });
    expect((err as Error).message).toMatch(/no progress from rank 0 at 127\.0\.0\.1:\d+ for 400 ms/);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  test("a slow but live neighbour is not timed out: 64 KiB at a time keeps the operation going", async () => {
    const { victim, feed } = await victimOfHostileLeft({ timeoutMs: 1_000 });
    const item = Uint8Array.from({ length: 384 << 10 }, (_, i) => i & 255);
    feed.write(encodeHeader(FrameKind.allGather, 0, item.length));
    let off = 0;
    const drip = setInterval(() => {
      feed.write(item.subarray(off, off + (64 << 10)));
      off += 64 << 10;
      if (off >= item.length) clearInterval(drip);
    }, 300);
    cleanup.push(() => clearInterval(drip));
    const t0 = Date.now();
    const got = await victim.allGather(new Uint8Array(0));
    expect(Date.now() - t0).toBeGreaterThan(1_000); // longer than the timeout, in steps shorter than it
    expect(Buffer.from(got[0]).equals(Buffer.from(item))).toBe(true);
  });

  test("bytes sent before the ring is connected are bounded too: the dialer stops reading", async () => {
    let feed!: net.Socket;
    const server = net.createServer((s) => {
      s.on("error", () => {});
      s.once("data", () => {
        s.write(Buffer.from([Ack.accepted]));
        feed = s;
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const rs = await dialPeer(
      `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      { generation: 1, fromRank: 1, worldSize: 2 },
      0,
      AbortSignal.timeout(5_000),
    );
    cleanup.push(() => void rs.socket.destroy());
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 64; i++) feed.write(chunk);
    await sleep(500);
    const kept = rs.early.reduce((n, c) => n + c.length, 0);
    expect(rs.paused).toBe(true);
    expect(kept).toBeGreaterThanOrEqual(EARLY_BYTES_LIMIT);
    expect(kept).toBeLessThan(EARLY_BYTES_LIMIT + (8 << 20));
  });
});

describe("the listener, before any hello is accepted", () => {
  async function listener() {
    const { log, lines } = capture();
    const l = await CollectiveListener.listen("127.0.0.1", 0, { logger: log });
    cleanup.push(() => l.close());
    return { l, lines };
  }

  test("bytes that are not a hello are refused at once, and the refusal names the address", async () => {
    const { l, lines } = await listener();
    const s = await connectTo(l.address);
    const answer = answerOf(s);
    s.write("GET / HTTP/1.1\r\n\r\n");
    expect(await answer).toBe(Ack.refused);
    const local = `${s.localAddress}:${s.localPort}`;
    expect(lines.find((x) => x.includes(local))).toMatch(/not a hello/);
  });

  test("a hello followed by more bytes, or naming a rank outside its world, is refused", async () => {
    const { l, lines } = await listener();
    const extra = await connectTo(l.address);
    const a1 = answerOf(extra);
    extra.write(Buffer.concat([encodeHello({ generation: 1, fromRank: 0, worldSize: 2 }), Buffer.alloc(8)]));
    expect(await a1).toBe(Ack.refused);
    expect(lines.some((x) => x.includes(`sent ${HELLO_BYTES + 8} bytes before its`))).toBe(true);

    const outside = await connectTo(l.address);
    const a2 = answerOf(outside);
    outside.write(encodeHello({ generation: 1, fromRank: 5, worldSize: 2 }));
    expect(await a2).toBe(Ack.refused);
    expect(lines.some((x) => x.includes("rank 5 in a world of 2"))).toBe(true);
  });

  test("connections beyond the caps are closed or answered busy, and a real ring still connects", async () => {
    const { l, lines } = await listener();
    // Silent connections that never finish a hello: the one past the cap is closed at once.
    const silent = await Promise.all(Array.from({ length: MAX_HANDSHAKING }, () => connectTo(l.address)));
    await sleep(100);
    const late = await connectTo(l.address);
    expect(await answerOf(late)).toBeNull();
    expect(lines.some((x) => x.includes("already sending their hello"))).toBe(true);
    for (const s of silent) s.destroy();
    await sleep(100);

    // Valid hellos for a generation nobody claims: the one past the cap is answered busy.
    const waiting = await Promise.all(Array.from({ length: MAX_PENDING }, () => connectTo(l.address)));
    for (const s of waiting) s.write(encodeHello({ generation: 99, fromRank: 0, worldSize: 2 }));
    await sleep(100);
    const extra = await connectTo(l.address);
    const answer = answerOf(extra);
    extra.write(encodeHello({ generation: 99, fromRank: 0, worldSize: 2 }));
    expect(await answer).toBe(Ack.busy);
    expect(lines.some((x) => x.includes(`${MAX_PENDING} connections already wait to be claimed`))).toBe(true);

    // A real rank dialing now is told busy too, and keeps trying until the slots free up.
    const other = await CollectiveListener.listen("127.0.0.1", 0);
    cleanup.push(() => other.close());
    const peers = [l.address, other.address];
    const connecting = Promise.all(
      [l, other].map((listener, rank) =>
        Collective.connect({ rank, worldSize: 2, generation: 10, peers, listener, connectTimeoutMs: 10_000 }),
      ),
    );
    await sleep(300);
    for (const s of waiting) s.destroy();
    const cs = await connecting;
    cleanup.push(async () => void (await Promise.all(cs.map((c) => c.close()))));
    expect(lines.some((x) => x.includes("rank 1 of generation 10: 16 connections already wait"))).toBe(true);
    const sums = await Promise.all(cs.map((c, r) => c.allReduce(Float32Array.of(r + 1), "sum")));
    expect(Array.from(sums[0])).toEqual([3]);
  });
});

describe("all-gather items above the limit", () => {
  test("the rank whose item is too large fails saying so; its peer fails too, not waiting", async () => {
    const ls = await Promise.all([0, 1].map(() => CollectiveListener.listen("127.0.0.1", 0)));
    cleanup.push(async () => void (await Promise.all(ls.map((l) => l.close()))));
    const peers = ls.map((l) => l.address);
    const cs = await Promise.all(
      ls.map((listener, rank) =>
        Collective.connect({ rank, worldSize: 2, generation: 1, peers, listener, maxGatherBytes: 1024 }),
      ),
    );
    cleanup.push(async () => void (await Promise.all(cs.map((c) => c.close()))));
    const [own, peer] = await Promise.all(
      [2000, 10].map((n, r) => cs[r].allGather(new Uint8Array(n)).catch((e: unknown) => e)),
    );
    expect(own).toMatchObject({ code: "PROTOCOL" });
    expect((own as Error).message).toMatch(
      /item is 2000 bytes, above the 1024-byte limit \(maxGatherBytes\)/,
    );
    expect(peer).toMatchObject({ code: expect.stringMatching(/PEER_LOST|PROTOCOL/) });
  });
});

// The client's session stream on its own (common/coordinator-client/session.ts) against a real
// coordinator on loopback: heartbeats carry the worker's position, a stopped heartbeat is reported
// as heartbeat_missed, a coordinator that goes away as a plain loss, and reopening gives up after
// reconnectForMs.
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import type { GenerationEnd } from "../../common/coordinator-client/index.js";
import { SessionStream } from "../../common/coordinator-client/session.js";
import type { CoordinatorGrpcClient } from "../../common/proto/index.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { md, rawClient as rawClientOf, TOKEN } from "./workers.js";

let coord: Awaited<ReturnType<typeof startCoordinator>> | null = null;
let session: SessionStream | null = null;
let channels: CoordinatorGrpcClient[] = [];
afterEach(async () => {
  session?.close();
  session = null;
  for (const ch of channels) ch.close();
  channels = [];
  await coord?.close();
  coord = null;
});

async function start() {
  coord = await startCoordinator({
    runId: "sess",
    token: TOKEN,
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 400,
    address: "127.0.0.1:0",
    logger: silentLogger,
  });
  return coord;
}

function openSession(address: string, o: { alive?: () => boolean; reconnectForMs?: number } = {}) {
  const losses: (Omit<GenerationEnd, "generation"> | undefined)[] = [];
  const heartbeats = { count: 0 };
  const s = new SessionStream(
    rawClient(address),
    md("sess", TOKEN),
    {
      address,
      runId: "sess",
      token: TOKEN,
      workerId: "w0",
      collectiveAddress: "127.0.0.1:1",
      alive: o.alive,
      reconnectForMs: o.reconnectForMs,
    },
    {
      position: () => {
        heartbeats.count++;
        return { generation: 0, step: 7 };
      },
      generationEnded: () => {},
      checkpointCommitted: () => {},
      lost: (cause) => losses.push(cause),
    },
  );
  session = s;
  return { s, losses, heartbeats };
}

function rawClient(address: string): CoordinatorGrpcClient {
  const ch = rawClientOf(address);
  channels.push(ch);
  return ch;
}

const until = async (what: string, cond: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("SessionStream", () => {
  it("is accepted, then heartbeats at the coordinator's interval and keeps the worker alive", async () => {
    const c = await start();
    const { s, losses, heartbeats } = openSession(c.address);
    await s.open(5_000);
    expect(c.run.aliveWorkers()).toEqual(["w0"]);
    await new Promise((r) => setTimeout(r, 1_000)); // 2.5x the heartbeat timeout
    expect(heartbeats.count).toBeGreaterThanOrEqual(5);
    expect(c.run.aliveWorkers()).toEqual(["w0"]);
    expect(losses).toEqual([]);
  });

  it("reports heartbeat_missed when its heartbeats stop (alive() false)", async () => {
    const c = await start();
    let alive = true;
    const { s, losses } = openSession(c.address, { alive: () => alive, reconnectForMs: 1 });
    await s.open(5_000);
    alive = false;
    await until("the loss", () => losses.length > 0);
    expect(losses).toEqual([{ reason: "heartbeat_missed", workerId: "w0" }]);
  });

  it("reports a coordinator that went away as a plain loss and gives up reopening after reconnectForMs", async () => {
    const c = await start();
    const { s, losses } = openSession(c.address, { reconnectForMs: 500 });
    await s.open(5_000);
    await c.close();
    coord = null;
    await until("the loss", () => losses.length > 0);
    expect(losses).toEqual([undefined]);
    await expect(s.ready).rejects.toThrow(/unreachable/);
  });

  it("a refused session rejects open with the coordinator's reason", async () => {
    const c = await start();
    const s = new SessionStream(
      rawClient(c.address),
      md("sess", "wrong-token"),
      { address: c.address, runId: "sess", token: "wrong-token", workerId: "w0", collectiveAddress: "x:1" },
      {
        position: () => ({ generation: 0, step: 0 }),
        generationEnded() {},
        checkpointCommitted() {},
        lost() {},
      },
    );
    session = s;
    await expect(s.open(5_000)).rejects.toMatchObject({ name: "CoordinatorCallError", code: 16 });
  });
});

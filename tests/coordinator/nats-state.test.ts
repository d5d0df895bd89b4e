// Events and run state on a real nats-server: events replayable from JetStream; a coordinator
// restarted mid-run resumes its generation counter and committed checkpoints from KV; NATS
// stopped and started mid-run does not stop training, drops are counted, state catches up.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../common/log.js";
import {
  EVENTS_STREAM,
  STATE_BUCKET,
  startCoordinator,
  stateKey,
} from "../../controller/coordinator/index.js";
import type { CoordinatorClient } from "../../common/coordinator-client/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/ports.js";
import { closeAll, connectWorkers, ended, ids, joinAll, TOKEN } from "./workers.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats.stop();
});

const sha = (c: string) => c.repeat(64);

async function withNats<T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: nats.url, timeout: 5_000 });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

async function eventCounts(runId: string): Promise<Record<string, number>> {
  return withNats(async (nc) => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(EVENTS_STREAM, {
      subjects_filter: `radfleet.runs.${runId}.events.>`,
    });
    const out: Record<string, number> = {};
    for (const [subj, n] of Object.entries(info.state.subjects ?? {})) out[subj.split(".").at(-1)!] = n;
    return out;
  });
}

async function kvState(
  runId: string,
): Promise<{ generation: number; restartCount: number; checkpoints: { step: number }[] } | null> {
  return withNats(async (nc) => {
    const kv = await new Kvm(nc).open(STATE_BUCKET);
    const e = await kv.get(stateKey(runId));
    return e ? e.json() : null;
  });
}

function options(runId: string, port = 0) {
  return {
    runId,
    token: TOKEN,
    minWorkers: 2,
    maxWorkers: 2,
    lastCallMs: 100,
    natsUrl: nats.url,
    address: `127.0.0.1:${port}`,
    logger: silentLogger,
  };
}

async function checkpoint(clients: CoordinatorClient[], step: number): Promise<void> {
  await Promise.all(
    clients.map(async (c, i) => {
      const name = `part-${c.workerId}`;
      await c.reportCheckpointPart(step, { name, uri: `/ck/${step}/${i}`, size: 1, sha256: sha(String(i)) });
      await c.commitCheckpoint(step, [name]);
    }),
  );
}

describe("NATS events and state", () => {
  it("publishes run events to JetStream where a late subscriber can replay them", async () => {
    const c = await startCoordinator(options("events"));
    const clients = await connectWorkers(c.address, "events", ids(2));
    try {
      await joinAll(clients);
      await checkpoint(clients, 5);
      await clients[0].reportProgress({ step: 5, loss: 1.5, phase: "training", evaluation: { rougeL: 0.2 } });
      await waitFor("events in the stream", async () => {
        const n = await eventCounts("events");
        return (
          n.generation_started === 1 &&
          n.checkpoint_committed === 1 &&
          n.worker_joined === 2 &&
          n.evaluation_completed === 1
        );
      });
      const state = await kvState("events");
      expect(state?.generation).toBe(1);
      expect(state?.checkpoints.map((x) => x.step)).toEqual([5]);
    } finally {
      await closeAll(clients);
      await c.close();
    }
  });

  it("a coordinator restarted mid-run resumes generation counter and committed checkpoints from KV", async () => {
    let c = await startCoordinator(options("restart"));
    const port = c.server.port;
    const clients = await connectWorkers(c.address, "restart", ids(2));
    try {
      const first = await joinAll(clients);
      await checkpoint(clients, 10);
      await waitFor("state in KV", async () => (await kvState("restart"))?.checkpoints.length === 1);
      await c.close();
      // The workers hear that their generation is over (coordinator lost) ...
      await Promise.all(first.map((g) => ended(g)));
      c = await startCoordinator(options("restart", port));
      expect(c.run.restarts).toBe(1);
      expect(c.run.generation).toBe(1);
      // ... and rejoin the new coordinator, resuming from the committed checkpoint.
      const again = await joinAll(clients);
      expect(again.map((g) => g.generation)).toEqual([2, 2]);
      expect(again[0].resumeFrom?.step).toBe(10);
      expect(again[0].resumeFrom?.parts.length).toBe(2);
      await waitFor("restart count in KV", async () => (await kvState("restart"))?.restartCount === 1);
    } finally {
      await closeAll(clients);
      await c.close();
    }
  });

  it("keeps training while NATS is down, counts dropped events, and writes the state once NATS is back", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "info", sink: { write: (l) => lines.push(l) } });
    const c = await startCoordinator({ ...options("outage"), logger });
    const clients = await connectWorkers(c.address, "outage", ids(2));
    try {
      await joinAll(clients);
      await nats.kill();
      // Training goes on: a checkpoint commits and a new generation forms with NATS down.
      await checkpoint(clients, 20);
      expect((await clients[0].latestCheckpoint())?.step).toBe(20);
      await clients[1].leave("stopped");
      const w2 = (await connectWorkers(c.address, "outage", ["w2"]))[0];
      clients.push(w2);
      const next = await Promise.all([clients[0].join(), w2.join()]);
      expect(next[0].generation).toBe(2);
      const dropped = await c.server.registry.getSingleMetricAsString(
        "radfleet_coordinator_events_dropped_total",
      );
      expect(Number(/ (\d+)\s*$/m.exec(dropped)?.[1] ?? 0)).toBeGreaterThan(0);
      // The outage is logged once, not once per dropped event.
      expect(lines.filter((l) => l.includes('"event":"nats_unreachable"')).length).toBe(1);
      await nats.start();
      await waitFor(
        "state written after NATS came back",
        async () => {
          const s = await kvState("outage");
          return s?.generation === 2 && s.checkpoints.some((x) => x.step === 20);
        },
        20_000,
        200,
      );
      // Events flow again once reconnected.
      const before = (await eventCounts("outage")).checkpoint_committed ?? 0;
      await checkpoint(
        clients.filter((x) => x.workerId !== "w1"),
        30,
      );
      await waitFor(
        "a new event after the outage",
        async () => ((await eventCounts("outage")).checkpoint_committed ?? 0) === before + 1,
      );
    } finally {
      await closeAll(clients);
      await c.close();
    }
  });

  it("a coordinator started while NATS is down merges the saved state once NATS is reachable", async () => {
    let c = await startCoordinator(options("late"));
    const clients = await connectWorkers(c.address, "late", ids(2));
    try {
      await joinAll(clients);
      await checkpoint(clients, 40);
      await waitFor("state in KV", async () => (await kvState("late"))?.checkpoints.length === 1);
      await closeAll(clients);
      await c.close();
      await nats.kill();
      c = await startCoordinator(options("late"));
      // Nothing to resume from while NATS is down ...
      expect(c.run.latestCheckpoint()).toBeNull();
      await nats.start();
      // ... and once it is back, the earlier coordinator's checkpoint is known again, not overwritten.
      const run = c.run;
      await waitFor("state merged", async () => run.latestCheckpoint()?.step === 40, 20_000, 100);
      expect(run.restarts).toBe(1);
      await waitFor(
        "merged state in KV",
        async () => (await kvState("late"))?.restartCount === 1,
        20_000,
        100,
      );
      expect((await kvState("late"))?.checkpoints.map((x) => x.step)).toEqual([40]);
    } finally {
      await c.close();
    }
  });
});

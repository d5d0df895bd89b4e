// Events and run state on a real nats-server: events replayable from JetStream; a coordinator
// restarted mid-run resumes its generation counter and committed checkpoints from KV; NATS
// stopped and started mid-run does not stop training, drops are counted, state catches up.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../common/log.js";
import type { Registry } from "../../common/metrics.js";
import { DEFAULT_RUN_BUCKET, runStateKey } from "../../common/run-records.js";
import { EVENTS_STREAM, startCoordinator } from "../../controller/coordinator/index.js";
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

type RunEvent = { type: string; runId: string } & Record<string, unknown>;

/** Every event of the run in the stream, in publish order, read back with an ordered consumer. */
async function runEvents(runId: string): Promise<RunEvent[]> {
  const total = Object.values(await eventCounts(runId)).reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  return withNats(async (nc) => {
    const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM, {
      // A single subject (not an array): the test nats-server may predate 2.10's filter_subjects.
      filter_subjects: `radfleet.runs.${runId}.events.>`,
    });
    const out: RunEvent[] = [];
    const msgs = await consumer.fetch({ max_messages: total, expires: 5_000 });
    for await (const m of msgs) {
      out.push(m.json<RunEvent>());
      if (out.length === total) break;
    }
    return out;
  });
}

/** A histogram's _count from the coordinator's registry (0 when nothing was observed). */
async function histogramCount(c: { server: { registry: Registry } }, name: string): Promise<number> {
  const text = await c.server.registry.getSingleMetricAsString(name);
  return Number(new RegExp(`^${name}_count(?:\\{[^}]*\\})? (\\d+)$`, "m").exec(text)?.[1] ?? 0);
}

async function kvState(
  runId: string,
): Promise<{ generation: number; restartCount: number; checkpoints: { step: number }[] } | null> {
  return withNats(async (nc) => {
    const kv = await new Kvm(nc).open(DEFAULT_RUN_BUCKET);
    const e = await kv.get(runStateKey(runId));
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

  it("publishes run_phase on a phase change of rank 0, and worker_lost and generation_ended with the lost worker", async () => {
    const c = await startCoordinator(options("lost"));
    const clients = await connectWorkers(c.address, "lost", ids(2));
    try {
      const gens = await joinAll(clients);
      const rank0 = clients[gens.findIndex((g) => g.rank === 0)];
      const victim = clients[gens.findIndex((g) => g.rank === 1)];
      await rank0.reportProgress({ step: 1, loss: 2, phase: "training", message: "warming up" });
      // The same phase again is no change: no second event for it.
      await rank0.reportProgress({ step: 2, loss: 1.9, phase: "training", message: "" });
      await rank0.reportProgress({ step: 3, loss: 1.8, phase: "evaluating", message: "eval at step 3" });
      await waitFor("run_phase events", async () => (await eventCounts("lost")).run_phase === 2);

      // The victim's process goes away without Leave: its session stream closes.
      await victim.close();
      await ended(gens[clients.indexOf(rank0)]);
      await waitFor("worker_lost and generation_ended", async () => {
        const n = await eventCounts("lost");
        return n.worker_lost === 1 && n.generation_ended === 1;
      });

      const events = await runEvents("lost");
      const of = (type: string) => events.filter((e) => e.type === type);
      expect(events.every((e) => e.runId === "lost")).toBe(true);
      expect(of("run_phase")).toEqual([
        expect.objectContaining({ phase: "training", step: 1, message: "warming up" }),
        expect.objectContaining({ phase: "evaluating", step: 3, message: "eval at step 3" }),
      ]);
      expect(of("worker_lost")).toEqual([
        expect.objectContaining({ workerId: victim.workerId, generation: 1, cause: "stream_closed" }),
      ]);
      expect(of("generation_ended")).toEqual([
        expect.objectContaining({ generation: 1, reason: "worker_lost", workerId: victim.workerId }),
      ]);
      // The loss is reported before the generation it ended.
      const types = events.map((e) => e.type);
      expect(types.indexOf("worker_lost")).toBeLessThan(types.indexOf("generation_ended"));
      expect(types.indexOf("generation_started")).toBeLessThan(types.indexOf("worker_lost"));
    } finally {
      await closeAll(clients);
      await c.close();
    }
  });

  it("observes the rendezvous and checkpoint commit durations in their histograms", async () => {
    const c = await startCoordinator(options("histograms"));
    const clients = await connectWorkers(c.address, "histograms", ids(2));
    const rendezvous = "radfleet_coordinator_rendezvous_duration_seconds";
    const commit = "radfleet_coordinator_checkpoint_commit_duration_seconds";
    try {
      expect(await histogramCount(c, rendezvous)).toBe(0);
      await joinAll(clients);
      expect(await histogramCount(c, rendezvous)).toBeGreaterThanOrEqual(1);
      expect(await histogramCount(c, commit)).toBe(0);
      await checkpoint(clients, 7);
      expect(await histogramCount(c, commit)).toBeGreaterThanOrEqual(1);
    } finally {
      await closeAll(clients);
      await c.close();
    }
  });

  it("a commit is acknowledged once KV holds the state that records it", async () => {
    const c = await startCoordinator(options("durable"));
    const clients = await connectWorkers(c.address, "durable", ids(2));
    try {
      await joinAll(clients);
      await checkpoint(clients, 5);
      // Read at once, no waiting: the acknowledgement came after KV's.
      expect((await kvState("durable"))?.checkpoints.map((x) => x.step)).toEqual([5]);
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

// Failure detection with real processes: a worker process killed mid-generation (closed stream)
// and a stopped one (missed heartbeats). Survivors are told through their generation's signal.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { GenerationEndedError, type CoordinatorClient } from "../../common/coordinator-client/index.js";
import { closeAll, connectWorkers, ended, ids, TOKEN } from "./workers.js";
import { waitFor } from "../helpers/ports.js";

const SCRIPT = fileURLToPath(new URL("./worker-process.ts", import.meta.url));
type Started = Awaited<ReturnType<typeof startCoordinator>>;
let coord: Started | null = null;
let clients: CoordinatorClient[] = [];
let children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  children = [];
  await closeAll(clients);
  clients = [];
  await coord?.close();
  coord = null;
});

function spawnWorker(
  address: string,
  runId: string,
  workerId: string,
): { child: ChildProcess; placed: Promise<{ rank: number; generation: number }> } {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, address, runId, TOKEN, workerId], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const placed = new Promise<{ rank: number; generation: number }>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as { rank: number; generation: number });
    });
    child.once("exit", (code, sig) =>
      reject(new Error(`worker ${workerId} exited (${code ?? sig}) before joining`)),
    );
  });
  return { child, placed };
}

async function startRun(
  runId: string,
  extra: { heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number } = {},
) {
  coord = await startCoordinator({
    runId,
    token: TOKEN,
    minWorkers: 2,
    maxWorkers: 3,
    // Long enough that the in-process workers, joining right after the child's session opens,
    // land in the child's round; the full round (3 = max) closes without waiting for it.
    lastCallMs: 1_000,
    address: "127.0.0.1:0",
    logger: silentLogger,
    ...extra,
  });
  return coord;
}

describe("failure detection", () => {
  it("a killed worker process ends the generation; survivors are told and re-form without it", async () => {
    const c = await startRun("killed");
    clients = await connectWorkers(c.address, "killed", ids(2));
    const victim = spawnWorker(c.address, "killed", "proc0");
    await waitFor("proc0's session", async () => c.run.aliveWorkers().includes("proc0"));
    const [g0, g1, placed] = await Promise.all([clients[0].join(), clients[1].join(), victim.placed]);
    expect(g0.worldSize).toBe(3);
    expect(placed.generation).toBe(g0.generation);
    const told: string[] = [];
    clients.forEach((cl) =>
      cl.onGenerationEnded((e) => told.push(`${cl.workerId}:${e.reason}:${e.workerId}`)),
    );

    victim.child.kill("SIGKILL");
    const reasons = await Promise.all([ended(g0), ended(g1)]);
    for (const r of reasons) {
      expect(r).toBeInstanceOf(GenerationEndedError);
      expect((r as GenerationEndedError).end).toMatchObject({ reason: "worker_lost", workerId: "proc0" });
    }
    expect(told.sort()).toEqual(["w0:worker_lost:proc0", "w1:worker_lost:proc0"]);
    const [n0, n1] = await Promise.all([clients[0].join(), clients[1].join()]);
    expect(n0.generation).toBe(g0.generation + 1);
    expect(n0.worldSize).toBe(2);
    expect([n0.rank, n1.rank].sort()).toEqual([0, 1]);
    expect(n0.peers).toEqual(n1.peers);
    expect(c.run.members().map((m) => m.workerId)).not.toContain("proc0");
  });

  it("a stopped worker process (stream open, no heartbeats) is declared failed by heartbeat timeout", async () => {
    const c = await startRun("stopped", { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 3_000 });
    clients = await connectWorkers(c.address, "stopped", ids(2));
    const victim = spawnWorker(c.address, "stopped", "proc1");
    await waitFor("proc1's session", async () => c.run.aliveWorkers().includes("proc1"));
    const [g0] = await Promise.all([clients[0].join(), clients[1].join(), victim.placed]);
    victim.child.kill("SIGSTOP");
    try {
      const r = (await ended(g0)) as GenerationEndedError;
      expect(r.end).toMatchObject({ reason: "heartbeat_missed", workerId: "proc1" });
      expect(
        await coord!.server.registry.getSingleMetricAsString("radfleet_coordinator_failures_detected_total"),
      ).toMatch(/cause="heartbeat_missed"[^\n]* 1/);
    } finally {
      victim.child.kill("SIGKILL");
    }
  });

  it("a worker frozen while waiting to join is dropped, so the next generation forms without it", async () => {
    coord = await startCoordinator({
      runId: "frozen-waiter",
      token: TOKEN,
      minWorkers: 3,
      maxWorkers: 3,
      lastCallMs: 100,
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 3_000,
      address: "127.0.0.1:0",
      logger: silentLogger,
    });
    const c = coord;
    const frozen = spawnWorker(c.address, "frozen-waiter", "proc3");
    frozen.placed.catch(() => {}); // it never gets placed
    await waitFor("proc3's session", async () => c.run.aliveWorkers().includes("proc3"));
    // Its join arrives and waits (min is 3); then the process is frozen.
    await waitFor("proc3 waiting", async () => c.run.waitingWorkers().includes("proc3"));
    frozen.child.kill("SIGSTOP");
    try {
      await waitFor("proc3 dropped", async () => !c.run.aliveWorkers().includes("proc3"), 15_000);
      expect(
        await c.server.registry.getSingleMetricAsString("radfleet_coordinator_failures_detected_total"),
      ).toMatch(/cause="heartbeat_missed"[^\n]* 1/);
      clients = await connectWorkers(c.address, "frozen-waiter", ids(3));
      const gs = await Promise.all(clients.map((cl) => cl.join({ timeoutMs: 20_000 })));
      expect(gs[0].worldSize).toBe(3);
      expect(
        c.run
          .members()
          .map((m) => m.workerId)
          .sort(),
      ).toEqual(["w0", "w1", "w2"]);
    } finally {
      frozen.child.kill("SIGKILL");
    }
  }, 40_000);

  it("a worker process frozen for 16 s keeps its place while the heartbeat timeout allows it (keepalive is not stricter)", async () => {
    // Keepalive must not be stricter than the heartbeat timeout: with the old 10 s ping / 5 s
    // timeout the coordinator dropped the connection of a worker busy in a long step.
    const c = await startRun("blocked", { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 25_000 });
    clients = await connectWorkers(c.address, "blocked", ids(2));
    const busy = spawnWorker(c.address, "blocked", "proc2");
    await waitFor("proc2's session", async () => c.run.aliveWorkers().includes("proc2"));
    const [g0] = await Promise.all([clients[0].join(), clients[1].join(), busy.placed]);
    let endedEarly: unknown = null;
    void ended(g0).then((e) => (endedEarly = e));
    busy.child.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, 16_000));
    busy.child.kill("SIGCONT");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(endedEarly).toBeNull();
    expect(c.run.aliveWorkers()).toContain("proc2");
    expect(
      await coord!.server.registry.getSingleMetricAsString("radfleet_coordinator_failures_detected_total"),
    ).not.toMatch(/\} [1-9]/);
  }, 40_000);
});

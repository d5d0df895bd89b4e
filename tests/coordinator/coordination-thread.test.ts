// The trainer's coordinator session on its own thread (trainer/train/coordination-thread.ts), with a
// real coordinator and a real trainer-side child process whose main thread is kept busy the way a
// long TensorFlow.js step keeps it busy.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import { parseRunSpec } from "../../common/spec/index.js";
import { GenerationEndedError, type CoordinatorClient } from "../../common/coordinator-client/index.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { connectCoordinationThread } from "../../trainer/train/coordination-thread.js";
import { closeAll, connectWorkers, ended, TOKEN } from "./workers.js";
import { waitFor } from "../helpers/ports.js";

const SCRIPT = fileURLToPath(new URL("./thread-worker-process.ts", import.meta.url));
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

interface Line {
  event: string;
  generation: number;
  rank?: number;
  worldSize?: number;
  ended?: boolean;
  reason?: string | null;
}

/** The child of thread-worker-process.ts: send it commands, read its JSON lines in order. */
function spawnTrainerSide(address: string, runId: string, workerId: string, stallTimeoutSeconds: number) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", SCRIPT, address, runId, TOKEN, workerId, String(stallTimeoutSeconds)],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const queue: Line[] = [];
  const waiters: ((l: Line) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (text) => {
    const l = JSON.parse(text) as Line;
    const w = waiters.shift();
    if (w) w(l);
    else queue.push(l);
  });
  const next = (): Promise<Line> =>
    new Promise((resolve, reject) => {
      const l = queue.shift();
      if (l) return resolve(l);
      waiters.push(resolve);
      child.once("exit", (code) => reject(new Error(`child exited (${code}): ${stderr}`)));
    });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    next,
    send: (cmd: string) => child.stdin!.write(cmd + "\n"),
    stderr: () => stderr,
    exit,
  };
}

async function startRun(runId: string) {
  coord = await startCoordinator({
    runId,
    token: TOKEN,
    minWorkers: 2,
    maxWorkers: 2,
    lastCallMs: 100,
    heartbeatIntervalMs: 200,
    // Not shorter: on a loaded 2-core machine even a free thread's timers can slip a second.
    heartbeatTimeoutMs: 3_000,
    address: "127.0.0.1:0",
    logger: silentLogger,
  });
  return coord;
}

const failuresDetected = async (): Promise<string> =>
  coord!.server.registry.getSingleMetricAsString("radfleet_coordinator_failures_detected_total");

describe("coordination thread", () => {
  it("a main thread busy for 3× the heartbeat timeout keeps its place: heartbeats come from the thread", async () => {
    const c = await startRun("busy");
    clients = await connectWorkers(c.address, "busy", ["peer"]);
    const busy = spawnTrainerSide(c.address, "busy", "busy", 60);
    const [g, joined] = await Promise.all([clients[0].join(), busy.next()]);
    expect(joined).toMatchObject({ event: "joined", generation: g.generation, worldSize: 2 });
    let endedEarly: unknown = null;
    void ended(g).then((e) => (endedEarly = e));

    busy.send("block 9000");
    const after = await busy.next();
    expect(after).toMatchObject({ event: "unblocked", generation: g.generation, ended: false });
    expect(endedEarly).toBeNull();
    expect(c.run.aliveWorkers()).toContain("busy");
    expect(await failuresDetected()).not.toMatch(/\} [1-9]/);

    busy.send("leave");
    expect((await busy.next()).event).toBe("left");
  }, 60_000);

  it("a main thread stalled past stallTimeoutSeconds gets its process ended, so the generation ends at once", async () => {
    const c = await startRun("stalled");
    clients = await connectWorkers(c.address, "stalled", ["peer"]);
    const stalled = spawnTrainerSide(c.address, "stalled", "stalled", 1);
    const [g] = await Promise.all([clients[0].join(), stalled.next()]);

    stalled.send("block 20000");
    // Well before the block ends: the thread ends the hung process, its stream closes.
    const r = (await ended(g)) as GenerationEndedError;
    expect(r).toBeInstanceOf(GenerationEndedError);
    expect(r.end).toMatchObject({ reason: "worker_lost", workerId: "stalled" });
    expect(await stalled.exit).toEqual({ code: null, signal: "SIGKILL" });
    expect(stalled.stderr()).toMatch(/"event":"main_thread_stalled"[^\n]*"stallTimeoutMs":1000/);
    expect(await failuresDetected()).toMatch(/cause="stream_closed"[^\n]* 1/);
  }, 60_000);

  it("a refused session rejects the connect with the coordinator's reason; calls answer across the thread", async () => {
    const c = await startRun("calls");
    const { spec } = parseRunSpec({ rendezvous: { joinTimeoutSeconds: 5 } });
    const env = {
      runId: "calls",
      workerId: "t0",
      coordinator: c.address,
      token: "wrong-token",
      specPath: "",
      runDir: "",
      metricsPort: 0,
      advertiseHost: "127.0.0.1",
    };
    const base = { spec, log: silentLogger, collectiveAddress: "127.0.0.1:1" };
    await expect(connectCoordinationThread({ ...base, env })).rejects.toThrow(/UNAUTHENTICATED/);

    const t = await connectCoordinationThread({ ...base, env: { ...env, token: TOKEN } });
    try {
      await waitFor("t0's session", async () => c.run.aliveWorkers().includes("t0"));
      expect(await t.committedCheckpoints()).toEqual([]);
      // A call the coordinator refuses comes back as an error with its message and gRPC code.
      const err = (await t.commitCheckpoint(99, 1, []).catch((e: unknown) => e)) as Error & { code?: number };
      expect(err.message).toMatch(/not in a generation; join first/);
      await t.leave("done");
    } finally {
      await t.close();
    }
    await t.close(); // idempotent
    await expect(t.committedCheckpoints()).rejects.toThrow(/coordination thread exited/);
  }, 60_000);
});

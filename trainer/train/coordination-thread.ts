// The trainer's coordinator session runs on its own thread.
//
// TensorFlow.js computes a step synchronously on the main thread; a session on that thread sends
// no heartbeat while a step runs, so a step longer than rendezvous.heartbeatTimeoutSeconds got a
// healthy worker declared failed. On a worker thread the heartbeats keep coming whatever the main
// thread does. A trainer that is truly stuck must still be found, though (torch's NCCL watchdog
// plays that part): the main thread stamps the time into shared memory every quarter second
// when its event loop is free, and once that stamp is older than rendezvous.stallTimeoutSeconds
// the thread ends the process, so that it is restarted like a crashed one.
//
// The main thread sees the same Coordination interface as before (coordination-grpc.ts runs
// unchanged inside the thread); calls and events cross as messages, in order.
import { Worker } from "node:worker_threads";
import type { Logger } from "../../common/log.js";
import { GenerationEndedError, type GenerationEnd } from "../../common/coordinator-client/index.js";
import type { RunSpec } from "../../common/spec/index.js";
import type { TrainerEnv } from "../../common/trainer-env.js";
import type { Coordination, GenerationInfo } from "./coordination.js";

const ENTRY = new URL("../../common/ts-worker.js", import.meta.url);
const MODULE = new URL("./coordination-worker.ts", import.meta.url).href;

/** What the thread is started with (workerData). */
export interface CoordinationThreadData {
  module: string;
  env: TrainerEnv;
  spec: RunSpec;
  collectiveAddress: string;
  /** BigInt64Array[1] over it: the main thread's last sign of life, ms since the epoch. */
  alive: SharedArrayBuffer;
  stallTimeoutMs: number;
}

/** Main thread → coordination thread. */
export type ThreadRequest =
  | { id: number; op: "join" }
  | { id: number; op: "commitCheckpoint"; args: Parameters<Coordination["commitCheckpoint"]> }
  | { id: number; op: "abandonCheckpoint"; args: Parameters<Coordination["abandonCheckpoint"]> }
  | { id: number; op: "committedCheckpoints" }
  | { id: number; op: "leave"; args: Parameters<Coordination["leave"]> }
  | { id: number; op: "close" }
  | { id: 0; op: "reportProgress"; args: Parameters<Coordination["reportProgress"]> };

/** A request that is answered, without its id (which call() assigns). */
type CallRequest =
  Exclude<ThreadRequest, { op: "reportProgress" }> extends infer R
    ? R extends unknown
      ? Omit<R, "id">
      : never
    : never;

export interface SerialisedError {
  name: string;
  message: string;
  code?: number;
}

/** Coordination thread → main thread. */
export type ThreadEvent =
  | { type: "ready" }
  | { type: "connectFailed"; error: SerialisedError }
  | { type: "result"; id: number; value: unknown }
  | { type: "error"; id: number; error: SerialisedError }
  | { type: "generationEnded"; generation: number; end: GenerationEnd | null; message: string };

/** The error a call failed with in the thread, with its name, message and gRPC code kept. */
export class CoordinationThreadError extends Error {
  /** The gRPC status code, when the call failed with one. */
  readonly code?: number;
  constructor(e: SerialisedError) {
    super(e.message);
    this.name = e.name;
    this.code = e.code;
  }
}

const STAMP_EVERY_MS = 250;

/**
 * Starts the coordination thread and resolves once its session is accepted by the coordinator
 * (or rejects with the reason it was not).
 */
export async function connectCoordinationThread(o: {
  env: TrainerEnv;
  spec: RunSpec;
  log: Logger;
  collectiveAddress: string;
}): Promise<Coordination> {
  const alive = new SharedArrayBuffer(8);
  const stamp = new BigInt64Array(alive);
  const touch = (): void => void Atomics.store(stamp, 0, BigInt(Date.now()));
  touch();
  const data: CoordinationThreadData = {
    module: MODULE,
    env: o.env,
    spec: o.spec,
    collectiveAddress: o.collectiveAddress,
    alive,
    stallTimeoutMs: o.spec.rendezvous.stallTimeoutSeconds * 1000,
  };
  const worker = new Worker(ENTRY, { workerData: data });
  const stamper = setInterval(touch, STAMP_EVERY_MS);
  stamper.unref();

  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const generations = new Map<number, AbortController>();
  /** Ends that arrived before their join's answer (not expected; kept to be safe). */
  const endedEarly = new Map<number, Error>();
  let nextId = 1;
  let broken: Error | null = null;
  let ready: { resolve: () => void; reject: (e: Error) => void } | null = null;
  const connected = new Promise<void>((resolve, reject) => (ready = { resolve, reject }));

  const fail = (err: Error): void => {
    if (broken) return;
    broken = err;
    clearInterval(stamper);
    ready?.reject(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    for (const c of generations.values()) c.abort(err);
    generations.clear();
  };

  worker.on("message", (m: ThreadEvent) => {
    switch (m.type) {
      case "ready":
        ready?.resolve();
        ready = null;
        break;
      case "connectFailed":
        fail(new CoordinationThreadError(m.error));
        break;
      case "result":
      case "error": {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (!p) break;
        if (m.type === "result") p.resolve(m.value);
        else p.reject(new CoordinationThreadError(m.error));
        break;
      }
      case "generationEnded": {
        const reason = m.end ? new GenerationEndedError(m.end) : new Error(m.message);
        const c = generations.get(m.generation);
        generations.delete(m.generation);
        if (c) c.abort(reason);
        else endedEarly.set(m.generation, reason);
        break;
      }
    }
  });
  worker.on("error", (err) => {
    o.log.error("coordination_thread_failed", { err });
    fail(new Error(`coordination thread failed: ${err.message}`));
  });
  worker.on("exit", (code) => fail(new Error(`coordination thread exited (code ${code})`)));

  const call = <T>(req: CallRequest): Promise<T> => {
    if (broken) return Promise.reject(broken);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  };

  try {
    await connected;
  } catch (err) {
    await worker.terminate();
    throw err;
  }

  let closed = false;
  return {
    async join(): Promise<GenerationInfo> {
      const g = await call<Omit<GenerationInfo, "signal">>({ op: "join" });
      const controller = new AbortController();
      const early = endedEarly.get(g.generation);
      endedEarly.delete(g.generation);
      if (early) controller.abort(early);
      else generations.set(g.generation, controller);
      return { ...g, signal: controller.signal };
    },
    commitCheckpoint: (...args) => call({ op: "commitCheckpoint", args }),
    abandonCheckpoint: (...args) => call({ op: "abandonCheckpoint", args }),
    committedCheckpoints: () => call({ op: "committedCheckpoints" }),
    reportProgress(p) {
      if (!broken) worker.postMessage({ id: 0, op: "reportProgress", args: [p] } satisfies ThreadRequest);
    },
    leave: (...args) => call({ op: "leave", args }),
    async close() {
      if (closed) return;
      closed = true;
      await call({ op: "close" }).catch(() => {});
      clearInterval(stamper);
      await worker.terminate();
    },
  };
}

// Run events and durable run state on NATS. Events go to radfleet.runs.<run>.events.<type> and are
// kept in one JetStream stream so a late subscriber can replay them; the state a restarted
// coordinator needs lives in a KV bucket. NATS is not on the training path: when it is
// unreachable, events are counted as dropped (logged once per outage, not per event) and the state
// is written again as soon as the connection is back.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Logger } from "../../common/log.js";
import {
  DEFAULT_RUN_BUCKET,
  runProgressKey,
  runStateKey,
  type RunProgressRecord,
} from "../../common/run-records.js";

export const EVENTS_STREAM = "RADFLEET_EVENTS";

export type RunEventType =
  | "worker_joined"
  | "worker_lost"
  | "generation_started"
  | "generation_ended"
  | "checkpoint_committed"
  | "evaluation_completed"
  | "run_phase"
  | "progress";

export function eventSubject(runId: string, type: RunEventType): string {
  return `radfleet.runs.${runId}.events.${type}`;
}

export interface NatsBridgeOptions {
  url: string;
  runId: string;
  /** The KV bucket of run state and progress (spec.nats.kvBucket). Default DEFAULT_RUN_BUCKET. */
  bucket?: string;
  log: Logger;
  /** Called for every event that could not be published. */
  onDropped: () => void;
  /** How long the first connection may take before the coordinator starts without NATS. */
  connectTimeoutMs?: number;
  /** How long one publish or KV write may wait for its acknowledgement. */
  ackTimeoutMs?: number;
}

export class NatsBridge {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private kv: KV | null = null;
  private connected = false;
  private closed = false;
  private outageLogged = false;
  private droppedInOutage = 0;
  /** Records not yet written, newest value per key; written again after an outage. */
  private readonly pending = new Map<string, string>();
  /** The one write loop, while it runs. */
  private flushing: Promise<void> | null = null;
  /** How many run states saveState was handed: each one's version number. */
  private stateSaved = 0;
  /** saveState callers waiting to hear whether their state (or a newer one) reached KV. */
  private readonly stateWaiters: Array<{ version: number; settle(inKv: boolean): void }> = [];
  private readonly ackTimeoutMs: number;

  private constructor(private readonly opts: NatsBridgeOptions) {
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 2_000;
  }

  /**
   * Connects and makes sure the stream and the bucket exist. Never throws: when NATS is not
   * reachable it keeps trying in the background and calls onLateConnect with the state found then.
   */
  static async open(opts: NatsBridgeOptions): Promise<NatsBridge> {
    const b = new NatsBridge(opts);
    try {
      await b.setUp();
    } catch (err) {
      opts.log.warn("nats_unavailable_at_start", {
        url: opts.url,
        error: err,
        consequence: "events are dropped and run state is not persisted until NATS is reachable; retrying",
      });
      b.outageLogged = true;
      void b.retryInBackground();
    }
    return b;
  }

  /** Set by the owner: called with the saved state when the first connection came late. */
  onLateConnect: ((savedState: unknown) => void) | null = null;

  private async setUp(): Promise<void> {
    const nc = await connect({
      servers: this.opts.url,
      name: `radfleet-coordinator-${this.opts.runId}`,
      timeout: this.opts.connectTimeoutMs ?? 3_000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    try {
      const jsm = await jetstreamManager(nc, { timeout: this.ackTimeoutMs });
      await jsm.streams
        .add({ name: EVENTS_STREAM, subjects: ["radfleet.runs.*.events.>"] })
        .catch(async () => {
          // Already there (possibly with other settings made by an operator): use it as it is.
          await jsm.streams.info(EVENTS_STREAM);
        });
      this.kv = await new Kvm(nc).create(this.opts.bucket ?? DEFAULT_RUN_BUCKET, { history: 5 });
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
    this.nc = nc;
    this.js = jetstream(nc, { timeout: this.ackTimeoutMs });
    this.connected = true;
    void this.watchStatus(nc);
  }

  private async retryInBackground(): Promise<void> {
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, 1_000).unref());
      if (this.closed) return;
      try {
        await this.setUp();
      } catch {
        continue;
      }
      if (this.closed) {
        await this.nc?.close().catch(() => {});
        return;
      }
      this.opts.log.info("nats_reachable", { url: this.opts.url, eventsDropped: this.droppedInOutage });
      this.outageLogged = false;
      this.droppedInOutage = 0;
      const saved = await this.loadState().catch(() => null);
      // The owner merges what an earlier coordinator saved before its own state is written.
      this.onLateConnect?.(saved);
      if (this.pending.size > 0) await this.flush();
      return;
    }
  }

  get available(): boolean {
    return this.connected && this.js !== null;
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closed) return;
      if (s.type === "disconnect") {
        this.connected = false;
        this.noteOutage();
      } else if (s.type === "reconnect") {
        this.connected = true;
        this.opts.log.info("nats_reconnected", { url: this.opts.url, eventsDropped: this.droppedInOutage });
        this.outageLogged = false;
        this.droppedInOutage = 0;
        if (this.pending.size > 0) void this.flush();
      }
    }
  }

  private noteOutage(error?: unknown): void {
    if (this.outageLogged) return;
    this.outageLogged = true;
    this.opts.log.warn("nats_unreachable", {
      url: this.opts.url,
      error,
      consequence: "training continues; events are dropped and counted until NATS is back",
    });
  }

  private drop(error?: unknown): void {
    this.droppedInOutage++;
    this.opts.onDropped();
    this.noteOutage(error);
  }

  /** Publishes one event; returns at once (the acknowledgement is awaited in the background). */
  publish(type: RunEventType, payload: Record<string, unknown>): void {
    if (!this.available || !this.js) {
      this.drop();
      return;
    }
    const body = JSON.stringify({ type, runId: this.opts.runId, timeUnixMs: Date.now(), ...payload });
    this.js
      .publish(eventSubject(this.opts.runId, type), body, { timeout: this.ackTimeoutMs })
      .catch((err: unknown) => {
        this.drop(err);
      });
  }

  /** Reads the run state saved by an earlier coordinator, or null. */
  async loadState(): Promise<unknown> {
    if (!this.kv) return null;
    const entry = await this.kv.get(runStateKey(this.opts.runId));
    if (!entry || entry.operation !== "PUT") return null;
    return entry.json<unknown>();
  }

  /**
   * Saves the run state; the newest value wins, and it is written again after an outage. Resolves
   * true once KV acknowledged this state or a newer one, false when it could not be written now
   * (NATS unreachable: it stays pending and is written when NATS is back).
   */
  saveState(state: unknown): Promise<boolean> {
    this.pending.set(runStateKey(this.opts.runId), JSON.stringify(state));
    const version = ++this.stateSaved;
    if (!this.connected || this.closed || !this.kv) {
      void this.flush();
      return Promise.resolve(false);
    }
    const written = new Promise<boolean>((settle) => this.stateWaiters.push({ version, settle }));
    void this.flush();
    return written;
  }

  /** Tells the waiting saveState callers up to `version` whether KV holds their state. */
  private settleStates(version: number, inKv: boolean): void {
    for (let i = this.stateWaiters.length - 1; i >= 0; i--) {
      const w = this.stateWaiters[i];
      if (w.version > version) continue;
      this.stateWaiters.splice(i, 1);
      w.settle(inKv);
    }
  }

  /**
   * Saves the run's progress for the controller's status. Reports arrive every step; while a write
   * is in flight newer ones replace the pending value, so the writes that follow find the newest
   * one and the rest have nothing left to write.
   */
  saveProgress(progress: RunProgressRecord): Promise<void> {
    this.pending.set(runProgressKey(this.opts.runId), JSON.stringify(progress));
    return this.flush();
  }

  /**
   * Writes what is pending, one put at a time. A call while the loop runs joins it (the loop takes
   * each key's newest value when it gets to it), so reports every step never queue up behind a slow
   * or failing KV. A failed put leaves the value pending and is retried a second later (and by
   * the next save or the reconnect).
   */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    let failed = false;
    const writeAll = async (): Promise<void> => {
      while (this.pending.size > 0 && this.kv && this.connected) {
        const [key, body] = this.pending.entries().next().value as [string, string];
        // The state this body is: pending holds the newest, so every save up to now.
        const version = key === runStateKey(this.opts.runId) ? this.stateSaved : 0;
        try {
          await this.kv.put(key, body);
          if (version > 0) this.settleStates(version, true);
        } catch (err) {
          failed = true;
          this.noteOutage(err);
          // A put that failed while the connection was (or is again) up, or one that hung
          // through an outage and failed after the reconnect had already called flush(): try
          // again shortly rather than wait for the next save, which may never come.
          if (!this.closed) setTimeout(() => void this.flush(), 1_000).unref();
          return;
        }
        if (this.pending.get(key) === body) this.pending.delete(key);
      }
    };
    // Cleared in a callback, never synchronously: when there is nothing to write, writeAll()
    // finishes before the assignment, and a clear inside it would be overwritten.
    this.flushing = writeAll().finally(() => {
      this.flushing = null;
      // Whoever still waits was not written by this loop and will not be soon: NATS is down, the
      // put failed (retried in the background) or the bridge closed.
      if (failed || !this.connected || this.closed) this.settleStates(Infinity, false);
      // A save that joined the loop just after it found nothing left is written by a new one
      // (after a failure the timer above retries instead, so a failing KV is not hammered).
      if (!failed && this.pending.size > 0 && this.connected && !this.closed) void this.flush();
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.race([
      (this.flushing ?? Promise.resolve()).catch(() => {}),
      new Promise((r) => setTimeout(r, this.ackTimeoutMs).unref()),
    ]);
    this.settleStates(Infinity, false);
    const nc = this.nc;
    if (!nc) return;
    // drain() waits for the server; with NATS down it would wait for ever, so bound it.
    const drained = nc.drain().then(
      () => true,
      () => false,
    );
    const ok = await Promise.race([
      drained,
      new Promise<boolean>((r) => setTimeout(() => r(false), 2_000).unref()),
    ]);
    if (!ok) await nc.close().catch(() => {});
  }
}

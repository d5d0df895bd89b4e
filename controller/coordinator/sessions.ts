// Workers' session streams and their heartbeats. A worker has at most one session (a newer one
// from the same worker id replaces it); a session silent for longer than heartbeatTimeoutMs is
// reported to onSilent, which decides what the loss means for the run.
import type { CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import { CoordinatorError } from "./errors.js";
import type { ResolvedCoordinatorOptions } from "./options.js";

/** What the coordinator sends down a worker's session stream. */
export type SessionEventOut =
  | { kind: "accepted"; accepted: { heartbeatIntervalMs: number; generation: number } }
  | { kind: "generationEnded"; generationEnded: { generation: number; reason: string; workerId: string } }
  | { kind: "checkpointCommitted"; checkpointCommitted: { checkpoint: CommittedCheckpoint } }
  | { kind: "heartbeatAck"; heartbeatAck: { generation: number } };

/** What the coordinator needs of a worker's open session stream. */
export interface SessionSink {
  send(ev: SessionEventOut): void;
  /** Ends the stream from the coordinator's side, telling the worker why. */
  close(why: CoordinatorError): void;
}

export interface SessionsOptions extends Pick<
  ResolvedCoordinatorOptions,
  "heartbeatIntervalMs" | "heartbeatTimeoutMs"
> {
  /**
   * A session has been silent past the timeout (it is still registered: the callback drops it).
   * Answering "stop" ends this sweep; the sessions after it are checked on the next one.
   */
  onSilent(workerId: string, silentMs: number): "continue" | "stop";
  /** The number of open sessions changed. */
  onCountChanged(count: number): void;
  /** The clock, in ms since the epoch. Default Date.now. */
  now?: () => number;
}

interface Session {
  id: number;
  sink: SessionSink;
  lastHeartbeatMs: number;
}

export class Sessions {
  private readonly byWorker = new Map<string, Session>();
  private nextId = 1;
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly o: SessionsOptions) {
    this.now = o.now ?? Date.now;
    // Sweeping at half the interval bounds detection at heartbeatTimeoutMs + interval/2.
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, o.heartbeatIntervalMs / 2));
    this.sweepTimer.unref();
  }

  has(workerId: string): boolean {
    return this.byWorker.has(workerId);
  }

  workerIds(): string[] {
    return [...this.byWorker.keys()];
  }

  /**
   * Registers a worker's session; returns its id (passed back with its heartbeats and its close)
   * and whether it replaced an older session of the same worker, which is closed.
   */
  open(workerId: string, sink: SessionSink): { id: number; replaced: boolean } {
    const prev = this.byWorker.get(workerId);
    const id = this.nextId++;
    this.byWorker.set(workerId, { id, sink, lastHeartbeatMs: this.now() });
    // The same worker id reconnected (a restarted process): the old stream is dead weight.
    prev?.sink.close(
      new CoordinatorError("aborted", `session replaced by a newer session of worker ${workerId}`),
    );
    this.o.onCountChanged(this.byWorker.size);
    return { id, replaced: prev !== undefined };
  }

  /** A heartbeat on session `id`: its sink, or null when that session is no longer the worker's. */
  heartbeat(workerId: string, id: number): SessionSink | null {
    const s = this.byWorker.get(workerId);
    if (!s || s.id !== id) return null;
    s.lastHeartbeatMs = this.now();
    return s.sink;
  }

  /** The stream of session `id` closed; false when it had already been replaced or dropped. */
  closed(workerId: string, id: number): boolean {
    const s = this.byWorker.get(workerId);
    if (!s || s.id !== id) return false;
    this.byWorker.delete(workerId);
    this.o.onCountChanged(this.byWorker.size);
    return true;
  }

  /** Ends a worker's session from this side, telling it why. */
  drop(workerId: string, why: CoordinatorError): void {
    const s = this.byWorker.get(workerId);
    if (!s) return;
    this.byWorker.delete(workerId);
    this.o.onCountChanged(this.byWorker.size);
    s.sink.close(why);
  }

  send(workerId: string, ev: SessionEventOut): void {
    this.byWorker.get(workerId)?.sink.send(ev);
  }

  /**
   * Reports every session silent past the timeout. Every open session must heartbeat, not only
   * the running generation's members: a worker that froze while waiting to join would otherwise
   * be placed in the next generation and take it down.
   */
  sweep(): void {
    const now = this.now();
    for (const [workerId, s] of this.byWorker) {
      const silentMs = now - s.lastHeartbeatMs;
      if (silentMs <= this.o.heartbeatTimeoutMs) continue;
      if (this.o.onSilent(workerId, silentMs) === "stop") return;
    }
  }

  /** Stops the sweeps and ends every session with `why`. */
  close(why: CoordinatorError): void {
    clearInterval(this.sweepTimer);
    for (const s of this.byWorker.values()) s.sink.close(why);
    this.byWorker.clear();
    this.o.onCountChanged(0);
  }
}

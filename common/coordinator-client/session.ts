// The worker's session stream: Hello, then heartbeats up and generation/checkpoint events down for
// as long as the worker runs. A lost stream is reported at once (the worker's generation is over)
// and reopened in the background for reconnectForMs.
import * as grpc from "@grpc/grpc-js";
import type { CoordinatorGrpcClient, SessionEvent__Output } from "../proto/index.js";
import { CoordinatorCallError } from "./errors.js";
import type { ConnectOptions } from "./options.js";
import { toCheckpoint, type CommittedCheckpoint, type GenerationEnd } from "./records.js";
import { sleep } from "./sleep.js";

export interface SessionHooks {
  /** What the next heartbeat carries: the worker's generation (0: none) and its latest step. */
  position(): { generation: number; step: number };
  /** The coordinator ended a generation (maybe not this worker's current one). */
  generationEnded(e: GenerationEnd): void;
  checkpointCommitted(c: CommittedCheckpoint): void;
  /**
   * The session is gone, so this worker's generation is over. `cause` is set when the coordinator
   * said why (its heartbeats were missed); otherwise the coordinator or the way to it went away.
   */
  lost(cause: Omit<GenerationEnd, "generation"> | undefined): void;
}

type Stream = grpc.ClientDuplexStream<unknown, SessionEvent__Output>;

export class SessionStream {
  private stream: Stream | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly lifetime = new AbortController();
  private closed = false;
  /** The latest opening of the session (first or reopened); rejects when it gave up. */
  ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly grpc: CoordinatorGrpcClient,
    private readonly metadata: grpc.Metadata,
    private readonly opts: ConnectOptions,
    private readonly hooks: SessionHooks,
  ) {}

  /** Opens the stream and sends Hello; resolves once the coordinator accepted the session. */
  open(timeoutMs: number): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const call = this.grpc.Session(this.metadata) as unknown as Stream;
      this.stream = call;
      let accepted = false;
      const timer = setTimeout(() => {
        if (!accepted) {
          call.cancel();
          reject(
            new Error(
              `coordinator ${this.opts.address}: session not accepted within ${timeoutMs} ms (run ${this.opts.runId})`,
            ),
          );
        }
      }, timeoutMs);
      call.on("data", (ev: SessionEvent__Output) => {
        if (ev.kind === "accepted" && ev.accepted) {
          accepted = true;
          clearTimeout(timer);
          this.startHeartbeats(ev.accepted.heartbeatIntervalMs);
          resolve();
        } else if (ev.kind === "generationEnded" && ev.generationEnded) {
          this.hooks.generationEnded(ev.generationEnded);
        } else if (ev.kind === "checkpointCommitted" && ev.checkpointCommitted) {
          const c = toCheckpoint(ev.checkpointCommitted.checkpoint);
          if (c) this.hooks.checkpointCommitted(c);
        }
      });
      call.on("error", (err: grpc.ServiceError) => {
        clearTimeout(timer);
        if (!accepted) reject(new CoordinatorCallError("Session", err.code, err.details || err.message));
        else if (this.stream === call) {
          // DEADLINE_EXCEEDED is the coordinator's verdict that this worker's heartbeats stopped;
          // anything else means the coordinator (or the way to it) went away.
          const missed = err.code === grpc.status.DEADLINE_EXCEEDED;
          this.lost(
            `session stream failed: ${err.details || err.message}`,
            missed ? { reason: "heartbeat_missed", workerId: this.opts.workerId } : undefined,
          );
        }
      });
      call.on("end", () => {
        clearTimeout(timer);
        if (accepted && this.stream === call) this.lost("session stream ended by the coordinator");
      });
      call.write({ hello: { workerId: this.opts.workerId } });
    });
    this.ready = ready;
    ready.catch(() => {});
    return ready;
  }

  private startHeartbeats(intervalMs: number): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (this.opts.alive && !this.opts.alive()) return;
      this.stream?.write({ heartbeat: this.hooks.position() });
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  /** Reports the loss, then reopens the session in the background until reconnectForMs. */
  private lost(why: string, cause?: Omit<GenerationEnd, "generation">): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.stream = null;
    this.hooks.lost(cause);
    if (this.closed) return;
    const deadline = Date.now() + (this.opts.reconnectForMs ?? 60_000);
    this.ready = (async () => {
      let last: unknown = why;
      while (!this.closed && Date.now() < deadline) {
        try {
          await this.open(Math.min(5_000, Math.max(1, deadline - Date.now())));
          return;
        } catch (err) {
          last = err;
          await sleep(200, this.lifetime.signal);
        }
      }
      throw new Error(`coordinator ${this.opts.address} unreachable: ${String(last)}`);
    })();
    this.ready.catch(() => {});
  }

  /** Ends the stream from this side; no reconnect follows. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lifetime.abort();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const s = this.stream;
    this.stream = null;
    if (s) {
      s.end();
      s.cancel();
    }
  }
}

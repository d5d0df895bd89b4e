// The worker side of the coordinator protocol (protos/radfleet/v1/coordinator.proto): one session
// stream carrying heartbeats up and generation/checkpoint events down, plus the unary calls.
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from "./keepalive.js";
import * as grpc from "@grpc/grpc-js";
import { loadCoordinatorProto, toReportProgressRequest, type CoordinatorGrpcClient } from "../proto/index.js";
import type { ProgressUpdate } from "../progress.js";
import type { SessionEvent__Output } from "../proto/index.js";
import type { CommittedCheckpoint__Output, JoinResponse__Output } from "../proto/index.js";

export interface CheckpointPartRecord {
  name: string;
  /** File path or nats-obj://bucket/object. */
  uri: string;
  size: number;
  /** Lower-case hex SHA-256. */
  sha256: string;
}

export interface CommittedCheckpoint {
  step: number;
  generation: number;
  parts: CheckpointPartRecord[];
  committedAtUnixMs: number;
}

export interface GenerationEnd {
  generation: number;
  /** worker_lost, heartbeat_missed, worker_rejoined, worker_left, worker_waiting, coordinator_shutdown, coordinator_lost, stale_generation */
  reason: string;
  /** The worker whose loss or arrival ended it ("" if none). */
  workerId: string;
}

export interface Generation {
  generation: number;
  rank: number;
  worldSize: number;
  /** Collective addresses of all members, in rank order. */
  peers: string[];
  /** The newest committed checkpoint, or null to start from scratch. */
  resumeFrom: CommittedCheckpoint | null;
  /** Aborted the moment this generation ends; the reason is a GenerationEndedError. */
  signal: AbortSignal;
}

export interface ClientTls {
  /** PEM CA that signed the coordinator's certificate. */
  ca: Buffer;
  /** Client certificate and key, when the coordinator requires them. */
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectOptions {
  /** Coordinator host:port. */
  address: string;
  runId: string;
  token: string;
  workerId: string;
  /** This worker's collective (data-plane) endpoint, host:port, sent with every join. */
  collectiveAddress: string;
  tls?: ClientTls;
  /** Aborting it closes the client. */
  signal?: AbortSignal;
  /** How long connect() waits for the session to be accepted. Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline of the short calls (report, latest checkpoint, progress). Default 30 s. */
  callTimeoutMs?: number;
  /** How long a lost session is retried before the client gives up and closes. Default 60 s. */
  reconnectForMs?: number;
  /**
   * Asked before every heartbeat; while it answers false no heartbeat is sent, so the coordinator
   * declares this worker failed after its heartbeat timeout. A session on its own thread uses it to
   * report a stuck main thread (trainer/train/coordination-thread.ts). Default: always alive.
   */
  alive?: () => boolean;
}

/** A call failed with a gRPC status; `code` is that status. */
export class CoordinatorCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    details: string,
  ) {
    super(`coordinator ${method} failed (${grpc.status[code] ?? code}): ${details}`);
    this.name = "CoordinatorCallError";
  }
}

/** The reason of a generation's AbortSignal. */
export class GenerationEndedError extends Error {
  constructor(readonly end: GenerationEnd) {
    super(
      `generation ${end.generation} ended: ${end.reason}${end.workerId ? ` (${end.workerId})` : ""}; rejoin to continue`,
    );
    this.name = "GenerationEndedError";
  }
}

function toCheckpoint(c: CommittedCheckpoint__Output | null): CommittedCheckpoint | null {
  if (!c) return null;
  return {
    step: c.step,
    generation: c.generation,
    parts: c.parts.map((p) => ({ name: p.name, uri: p.uri, size: p.size, sha256: p.sha256 })),
    committedAtUnixMs: c.committedAtUnixMs,
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export class CoordinatorClient {
  private readonly grpc: CoordinatorGrpcClient;
  private readonly metadata: grpc.Metadata;
  private session: grpc.ClientDuplexStream<unknown, SessionEvent__Output> | null = null;
  private sessionReady: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private current: { info: Generation; controller: AbortController } | null = null;
  private lastStep = 0;
  private readonly endedListeners = new Set<(e: GenerationEnd) => void>();
  private readonly committedListeners = new Set<(c: CommittedCheckpoint) => void>();
  private readonly lifetime = new AbortController();
  private closed = false;

  private constructor(private readonly opts: ConnectOptions) {
    const proto = loadCoordinatorProto();
    const creds = opts.tls
      ? grpc.credentials.createSsl(opts.tls.ca, opts.tls.key ?? null, opts.tls.cert ?? null)
      : grpc.credentials.createInsecure();
    this.grpc = new proto.radfleet.v1.Coordinator(opts.address, creds, {
      // See keepalive.ts: generous, because this process's event loop blocks during a step.
      "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      "grpc.keepalive_permit_without_calls": 1,
      // Quick reconnects after a coordinator restart, instead of grpc's default back-off up to 120 s.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1_000,
      // A join answer carries every peer's address (about 40 bytes x world size); with hundreds of
      // workers sharing one connection (the benchmark) the default 64 KiB window stalls replies.
      "grpc-node.flow_control_window": 8 * 1024 * 1024,
      // The client retries joins itself; grpc's transparent retry buffering only costs here.
      "grpc.enable_retries": 0,
    });
    this.metadata = new grpc.Metadata();
    this.metadata.set("x-radfleet-run", opts.runId);
    this.metadata.set("authorization", `Bearer ${opts.token}`);
    opts.signal?.addEventListener("abort", () => void this.close());
  }

  /** Connects and opens the session stream; resolves once the coordinator accepted the session. */
  static async connect(opts: ConnectOptions): Promise<CoordinatorClient> {
    const c = new CoordinatorClient(opts);
    try {
      await c.openSession(opts.connectTimeoutMs ?? 10_000);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  get workerId(): string {
    return this.opts.workerId;
  }

  /** The generation this worker is in, or null between generations. */
  get generation(): Generation | null {
    return this.current?.info ?? null;
  }

  private openSession(timeoutMs: number): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const call = this.grpc.Session(this.metadata) as unknown as grpc.ClientDuplexStream<
        unknown,
        SessionEvent__Output
      >;
      this.session = call;
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
          this.generationEnded(ev.generationEnded);
        } else if (ev.kind === "checkpointCommitted" && ev.checkpointCommitted) {
          const c = toCheckpoint(ev.checkpointCommitted.checkpoint);
          if (c) for (const l of this.committedListeners) l(c);
        }
      });
      call.on("error", (err: grpc.ServiceError) => {
        clearTimeout(timer);
        if (!accepted) reject(new CoordinatorCallError("Session", err.code, err.details || err.message));
        else if (this.session === call) {
          // DEADLINE_EXCEEDED is the coordinator's verdict that this worker's heartbeats stopped;
          // anything else means the coordinator (or the way to it) went away.
          const missed = err.code === grpc.status.DEADLINE_EXCEEDED;
          this.sessionLost(
            `session stream failed: ${err.details || err.message}`,
            missed ? { reason: "heartbeat_missed", workerId: this.opts.workerId } : undefined,
          );
        }
      });
      call.on("end", () => {
        clearTimeout(timer);
        if (accepted && this.session === call) this.sessionLost("session stream ended by the coordinator");
      });
      call.write({ hello: { workerId: this.opts.workerId } });
    });
    this.sessionReady = ready;
    ready.catch(() => {});
    return ready;
  }

  private startHeartbeats(intervalMs: number): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (this.opts.alive && !this.opts.alive()) return;
      this.session?.write({
        heartbeat: { generation: this.current?.info.generation ?? 0, step: this.lastStep },
      });
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  private generationEnded(e: { generation: number; reason: string; workerId: string }): void {
    const cur = this.current;
    if (!cur || cur.info.generation !== e.generation) return;
    this.current = null;
    const end: GenerationEnd = { generation: e.generation, reason: e.reason, workerId: e.workerId };
    cur.controller.abort(new GenerationEndedError(end));
    for (const l of this.endedListeners) l(end);
  }

  /**
   * The session is gone (the coordinator went away, or it dropped this worker): our generation is
   * over; reopen the session in the background.
   */
  private sessionLost(why: string, cause?: { reason: string; workerId: string }): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.session = null;
    if (this.current) {
      this.generationEnded({
        generation: this.current.info.generation,
        reason: cause?.reason ?? "coordinator_lost",
        workerId: cause?.workerId ?? "",
      });
    }
    if (this.closed) return;
    const deadline = Date.now() + (this.opts.reconnectForMs ?? 60_000);
    this.sessionReady = (async () => {
      let last: unknown = why;
      while (!this.closed && Date.now() < deadline) {
        try {
          await this.openSession(Math.min(5_000, Math.max(1, deadline - Date.now())));
          return;
        } catch (err) {
          last = err;
          await sleep(200, this.lifetime.signal);
        }
      }
      throw new Error(`coordinator ${this.opts.address} unreachable: ${String(last)}`);
    })();
    this.sessionReady.catch(() => {});
  }

  private deadline(ms: number): Date {
    return new Date(Date.now() + ms);
  }

  private unary<Res>(
    method: string,
    invoke: (
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => grpc.ClientUnaryCall,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Res> {
    if (this.closed)
      return Promise.reject(new Error(`coordinator client of ${this.opts.workerId} is closed`));
    return new Promise<Res>((resolve, reject) => {
      const call = invoke(this.metadata, { deadline: this.deadline(timeoutMs) }, (err, res) => {
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(new CoordinatorCallError(method, err.code, err.details || err.message));
        else resolve(res as Res);
      });
      const onAbort = () => call.cancel();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) call.cancel();
    });
  }

  /**
   * Joins the next generation and waits until it closes. Retries while the coordinator is
   * restarting (UNAVAILABLE) until `timeoutMs` (default 10 min) or `signal`.
   */
  async join(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Generation> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    for (;;) {
      try {
        await this.sessionReady;
        const res = await this.unary<JoinResponse__Output>(
          "Join",
          (md, o, cb) =>
            this.grpc.Join(
              { workerId: this.opts.workerId, collectiveAddress: this.opts.collectiveAddress },
              md,
              o,
              cb,
            ),
          Math.max(1, deadline - Date.now()),
          options.signal,
        );
        const controller = new AbortController();
        const info: Generation = {
          generation: res.generation,
          rank: res.rank,
          worldSize: res.worldSize,
          peers: res.peers,
          resumeFrom: toCheckpoint(res.resumeFrom),
          signal: controller.signal,
        };
        this.current = { info, controller };
        return info;
      } catch (err) {
        const retry =
          (err instanceof CoordinatorCallError &&
            (err.code === grpc.status.UNAVAILABLE ||
              err.code === grpc.status.ABORTED ||
              (err.code === grpc.status.FAILED_PRECONDITION && /no open session/.test(err.message)))) ||
          !(err instanceof CoordinatorCallError);
        if (!retry || this.closed || options.signal?.aborted || Date.now() >= deadline) throw err;
        await sleep(100, options.signal);
      }
    }
  }

  /** Called (synchronously, from the session stream) whenever this worker's generation ends. */
  onGenerationEnded(listener: (e: GenerationEnd) => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  /** Called whenever the coordinator commits a checkpoint of this worker's generation. */
  onCheckpointCommitted(listener: (c: CommittedCheckpoint) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  private requireGeneration(what: string): Generation {
    const g = this.current?.info;
    if (!g) throw new Error(`${what}: worker ${this.opts.workerId} is not in a generation; join first`);
    return g;
  }

  /** Waits until every member of the current generation entered the barrier `name`. */
  barrier(name: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const g = this.requireGeneration(`barrier ${name}`);
    return this.unary<unknown>(
      "Barrier",
      (md, o, cb) =>
        this.grpc.Barrier({ workerId: this.opts.workerId, generation: g.generation, name }, md, o, cb),
      options.timeoutMs ?? 600_000,
      g.signal,
    ).then(() => undefined);
  }

  /** Phase one: one part of the checkpoint at `step` is durable. */
  reportCheckpointPart(step: number, part: CheckpointPartRecord): Promise<void> {
    const g = this.requireGeneration(`checkpoint part ${part.name}`);
    return this.unary<unknown>(
      "ReportCheckpointPart",
      (md, o, cb) =>
        this.grpc.ReportCheckpointPart(
          { workerId: this.opts.workerId, generation: g.generation, step, part },
          md,
          o,
          cb,
        ),
      this.opts.callTimeoutMs ?? 30_000,
    ).then(() => undefined);
  }

  /**
   * Phase two: votes to commit the checkpoint at `step`, declaring the part names this rank is
   * responsible for (rank 0 includes the shared parts). Resolves with the committed manifest once
   * every rank voted; rejects if a declared part is missing or the generation ends.
   */
  commitCheckpoint(
    step: number,
    expectedParts: string[],
    options: { timeoutMs?: number } = {},
  ): Promise<CommittedCheckpoint> {
    const g = this.requireGeneration(`checkpoint commit at step ${step}`);
    return this.unary<{ checkpoint: CommittedCheckpoint__Output | null }>(
      "CommitCheckpoint",
      (md, o, cb) =>
        this.grpc.CommitCheckpoint(
          { workerId: this.opts.workerId, generation: g.generation, step, expectedParts },
          md,
          o,
          cb,
        ),
      options.timeoutMs ?? 600_000,
      g.signal,
    ).then((r) => {
      const c = toCheckpoint(r.checkpoint);
      if (!c) throw new Error(`checkpoint commit at step ${step}: coordinator answered without a manifest`);
      return c;
    });
  }

  /** The newest committed checkpoint, or null. */
  latestCheckpoint(): Promise<CommittedCheckpoint | null> {
    return this.unary<{ checkpoint: CommittedCheckpoint__Output | null }>(
      "GetLatestCheckpoint",
      (md, o, cb) => this.grpc.GetLatestCheckpoint({}, md, o, cb),
      this.opts.callTimeoutMs ?? 30_000,
    ).then((r) => toCheckpoint(r.checkpoint));
  }

  /** Committed checkpoints, newest first. */
  listCheckpoints(): Promise<CommittedCheckpoint[]> {
    return this.unary<{ checkpoints: CommittedCheckpoint__Output[] }>(
      "ListCheckpoints",
      (md, o, cb) => this.grpc.ListCheckpoints({}, md, o, cb),
      this.opts.callTimeoutMs ?? 30_000,
    ).then((r) => r.checkpoints.map((c) => toCheckpoint(c)!));
  }

  /** Reports training progress (also carried by the next heartbeat's step). */
  reportProgress(p: ProgressUpdate): Promise<void> {
    this.lastStep = p.step;
    return this.unary<unknown>(
      "ReportProgress",
      (md, o, cb) =>
        this.grpc.ReportProgress(
          toReportProgressRequest(this.opts.workerId, this.current?.info.generation ?? 0, p),
          md,
          o,
          cb,
        ),
      this.opts.callTimeoutMs ?? 30_000,
    ).then(() => undefined);
  }

  /** Tells the coordinator this worker is finished and will not rejoin. */
  leave(reason: "done" | "stopped" | "failed", message = ""): Promise<void> {
    return this.unary<unknown>(
      "Leave",
      (md, o, cb) => this.grpc.Leave({ workerId: this.opts.workerId, reason, message }, md, o, cb),
      this.opts.callTimeoutMs ?? 30_000,
    ).then(() => undefined);
  }

  /** Closes the session stream and the channel. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lifetime.abort();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const s = this.session;
    this.session = null;
    if (s) {
      s.end();
      s.cancel();
    }
    this.grpc.close();
  }
}

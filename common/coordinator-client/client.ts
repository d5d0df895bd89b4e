// The worker side of the coordinator protocol (protos/radfleet/v1/coordinator.proto): the session
// stream (session.ts) plus the unary calls: join with its retries, barrier, the two checkpoint
// phases, progress and leave. Every call has a deadline.
import * as grpc from "@grpc/grpc-js";
import {
  loadCoordinatorProto,
  toReportProgressRequest,
  type CommittedCheckpoint__Output,
  type CoordinatorGrpcClient,
  type JoinResponse__Output,
} from "../proto/index.js";
import type { ProgressUpdate } from "../progress.js";
import { CoordinatorCallError, GenerationEndedError } from "./errors.js";
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from "./keepalive.js";
import type { ConnectOptions } from "./options.js";
import {
  toCheckpoint,
  type CheckpointPartRecord,
  type CommittedCheckpoint,
  type Generation,
  type GenerationEnd,
} from "./records.js";
import { SessionStream } from "./session.js";
import { sleep } from "./sleep.js";

export class CoordinatorClient {
  private readonly grpc: CoordinatorGrpcClient;
  private readonly metadata: grpc.Metadata;
  private readonly session: SessionStream;
  private current: { info: Generation; controller: AbortController } | null = null;
  private lastStep = 0;
  private readonly endedListeners = new Set<(e: GenerationEnd) => void>();
  private readonly committedListeners = new Set<(c: CommittedCheckpoint) => void>();
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
    this.session = new SessionStream(this.grpc, this.metadata, opts, {
      position: () => ({ generation: this.current?.info.generation ?? 0, step: this.lastStep }),
      generationEnded: (e) => this.generationEnded(e),
      checkpointCommitted: (c) => {
        for (const l of this.committedListeners) l(c);
      },
      lost: (cause) => {
        if (!this.current) return;
        this.generationEnded({
          generation: this.current.info.generation,
          reason: cause?.reason ?? "coordinator_lost",
          workerId: cause?.workerId ?? "",
        });
      },
    });
    opts.signal?.addEventListener("abort", () => void this.close());
  }

  /** Connects and opens the session stream; resolves once the coordinator accepted the session. */
  static async connect(opts: ConnectOptions): Promise<CoordinatorClient> {
    const c = new CoordinatorClient(opts);
    try {
      await c.session.open(opts.connectTimeoutMs ?? 10_000);
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

  private generationEnded(e: { generation: number; reason: string; workerId: string }): void {
    const cur = this.current;
    if (!cur || cur.info.generation !== e.generation) return;
    this.current = null;
    const end: GenerationEnd = { generation: e.generation, reason: e.reason, workerId: e.workerId };
    cur.controller.abort(new GenerationEndedError(end));
    for (const l of this.endedListeners) l(end);
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
        await this.session.ready;
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
    this.session.close();
    this.grpc.close();
  }
}

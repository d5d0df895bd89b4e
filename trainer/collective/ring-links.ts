// A rank's two data-plane connections in the ring: it sends to its right neighbour (rank + 1) and
// receives from its left neighbour (rank - 1). Each socket carries bytes one way only, so a frame
// order problem can only come from mismatched operations, never from interleaving.
//
// Failure handling lives here: a closed or reset socket fails the links with PEER_LOST at once; a
// receive that makes no progress for `timeoutMs` fails with TIMEOUT. Failing destroys both
// sockets, so the neighbours see their own sockets close and fail too: the failure travels around
// the ring in a few milliseconds and every rank's pending operation rejects within the bound.
//
// The left neighbour's bytes are input to be bounded: each frame against its kind's ceiling (the
// reader), the frames it sends ahead of this rank's operations by the receive queue (reading stops
// while the queue is full, so the sender waits in TCP instead of growing this process's memory),
// and its pace by the idle timer, which only progress re-arms: a whole frame, or
// PROGRESS_BYTES of one, so a trickle of bytes cannot hold an operation open for ever.

import type net from "node:net";
import type { ReadingSocket } from "./handshake.js";
import { CollectiveError } from "./errors.js";
import {
  encodeHeader,
  FRAME_HEADER_BYTES,
  FrameReader,
  type Frame,
  type FrameLimits,
  type Sink,
} from "./frames.js";

/**
 * Reading from the left stops while frames of this many bytes wait for this rank's operations. A
 * neighbour legitimately runs ahead by at most about one operation (a segment of an all-reduce, a
 * broadcast it roots); beyond this it simply waits in TCP until this rank catches up.
 */
export const QUEUE_HIGH_WATER_BYTES = 16 << 20;

/**
 * What counts as progress for the idle timer: a completed frame or this many bytes of one. At the
 * default 30 s timeout a live link must bring 2 KiB/s, far below any real network.
 */
export const PROGRESS_BYTES = 64 << 10;

export interface LinkCounters {
  sent(bytes: number): void;
  received(bytes: number): void;
}

export class RingLinks {
  readonly rank: number;
  readonly worldSize: number;
  readonly left: number;
  readonly right: number;
  private readonly toRight: net.Socket;
  private readonly fromLeft: net.Socket;
  private readonly reader: FrameReader;
  private readonly frames: Frame[] = [];
  /** Payload plus header bytes of `frames`. */
  private queuedBytes = 0;
  private readPaused = false;
  /** "rank 1 at 10.0.0.5:4100": who the left neighbour is, for errors about what it sent. */
  private readonly leftName: string;
  /** Bytes received from the left since the last progress mark. */
  private sinceProgress = 0;
  /** The reader's count of completed frames at the last progress mark. */
  private completedSeen = 0;
  private waiter: { resolve(f: Frame): void; reject(e: Error): void } | undefined;
  private lastActivity = Date.now();
  private failure: CollectiveError | undefined;
  private recvClosed: CollectiveError | undefined;
  private receiving = false;
  private sendClosed: CollectiveError | undefined;
  /** Rejecters of everything currently waiting on this link. */
  private readonly failWaiters = new Set<(e: Error) => void>();
  private readonly onFail: (err: CollectiveError) => void;

  constructor(
    opts: {
      rank: number;
      worldSize: number;
      toRight: net.Socket;
      fromLeft: ReadingSocket;
      timeoutMs: number;
      limits: FrameLimits;
      /** The address this rank dialed for its left neighbour. */
      leftAddress: string;
    },
    private readonly counters: LinkCounters,
    onFail: (err: CollectiveError) => void,
  ) {
    this.rank = opts.rank;
    this.worldSize = opts.worldSize;
    this.left = (opts.rank - 1 + opts.worldSize) % opts.worldSize;
    this.right = (opts.rank + 1) % opts.worldSize;
    this.toRight = opts.toRight;
    this.fromLeft = opts.fromLeft.socket;
    this.timeoutMs = opts.timeoutMs;
    this.onFail = onFail;
    this.leftName = `rank ${this.left} at ${opts.leftAddress}`;
    this.reader = new FrameReader(opts.limits);

    const take = (bytes: number, read: () => Frame[]): void => {
      this.sinceProgress += bytes;
      this.counters.received(bytes);
      let done: Frame[];
      try {
        done = read();
      } catch (err) {
        this.fail(this.protocolError(err));
        return;
      }
      if (this.sinceProgress >= PROGRESS_BYTES || this.reader.completed !== this.completedSeen)
        this.progressed();
      for (const f of done) this.deliver(f);
    };
    const onChunk = (chunk: Uint8Array): void => take(chunk.length, () => this.reader.push(chunk));
    // The dialer stops reading once too many early bytes wait (handshake.ts); from here the queue decides.
    this.readPaused = opts.fromLeft.paused === true;
    for (const chunk of opts.fromLeft.early) onChunk(chunk);
    opts.fromLeft.early.length = 0;
    opts.fromLeft.onChunk = onChunk;
    this.resumeIfRoom();
    // While an all-reduce streams, reads land in their destination (or the add stage) directly.
    opts.fromLeft.direct = {
      target: () => (this.failure ? undefined : this.reader.readTarget()),
      landed: (n) => take(n, () => this.reader.landed(n)),
    };
    const lost = (peer: number, how: string) => (err?: Error) => {
      const detail = err ? `${how}: ${err.message}` : how;
      this.fail(new CollectiveError("PEER_LOST", `link to rank ${peer} lost (${detail})`, peer));
    };
    // A neighbour that finished the last operation and closed is not a failure until this rank
    // needs that link again: at its next send, or while it waits for data. (A dead neighbour is
    // noticed there too: every operation sends to the right and waits on the left.)
    this.fromLeft.on("error", lost(this.left, "receive link error"));
    this.fromLeft.on("close", () => {
      this.recvClosed = new CollectiveError(
        "PEER_LOST",
        `link to rank ${this.left} lost (receive link closed)`,
        this.left,
      );
      if (this.receiving) this.fail(this.recvClosed);
    });
    this.toRight.on("error", lost(this.right, "send link error"));
    this.toRight.on("close", () => {
      this.sendClosed = new CollectiveError(
        "PEER_LOST",
        `link to rank ${this.right} lost (send link closed)`,
        this.right,
      );
    });
    this.toRight.on("data", () =>
      this.fail(
        new CollectiveError("PROTOCOL", `rank ${this.right} sent data on a send-only link`, this.right),
      ),
    );
    // Nothing should come back on the send link; reading it is how its closing is noticed.
    this.toRight.resume();
  }

  private readonly timeoutMs: number;

  get failed(): CollectiveError | undefined {
    return this.failure;
  }

  /** Queues one frame to the right neighbour. The payload must not change until `flush` resolves. */
  send(kind: number, seq: number, payload: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.sendClosed) throw this.fail(this.sendClosed);
    const s = this.toRight;
    s.cork();
    this.pendingWrites++;
    s.write(encodeHeader(kind, seq, payload.byteLength));
    s.write(payload, this.onWritten);
    s.uncork();
    this.counters.sent(payload.byteLength + 12);
  }

  /** The next frame from the left neighbour; it must be of `kind` and `seq`. */
  async recv(kind: number, seq: number): Promise<Uint8Array> {
    const f = this.frames.length > 0 ? this.dequeue() : await this.waitFrame();
    if (f.kind !== kind || f.seq !== seq >>> 0) {
      throw this.fail(
        new CollectiveError(
          "PROTOCOL",
          `${this.leftName} sent frame kind ${f.kind} of op #${f.seq}, expected kind ${kind} of op #${seq}: ranks called operations in a different order`,
          this.left,
        ),
      );
    }
    return f.payload;
  }

  /**
   * Receives the next `sinks.length` float32 frames of (kind, seq) straight into the sinks' targets
   * as bytes arrive; each sink's `done` runs as soon as its frame is complete.
   */
  async stream(kind: number, seq: number, sinks: Sink[]): Promise<void> {
    if (this.failure) throw this.failure;
    if (sinks.length === 0) return;
    let finished = false;
    const plan = { kind, seq, sinks, next: 0, finished: () => void (finished = true) };
    this.reader.setPlan(plan);
    try {
      while (this.frames.length > 0 && !finished) this.reader.applyAssembled(this.dequeue());
    } catch (err) {
      throw this.fail(this.protocolError(err));
    }
    if (finished) return;
    await this.idleWait<void>((resolve) => {
      plan.finished = () => {
        finished = true;
        resolve();
      };
    });
  }

  /** The message of a frame the reader refused, naming the peer that sent it. */
  private protocolError(err: unknown): CollectiveError {
    return new CollectiveError("PROTOCOL", `from ${this.leftName}: ${(err as Error).message}`, this.left);
  }

  private dequeue(): Frame {
    const f = this.frames.shift()!;
    this.queuedBytes -= f.payload.byteLength + FRAME_HEADER_BYTES;
    this.resumeIfRoom();
    return f;
  }

  private resumeIfRoom(): void {
    if (this.readPaused && this.queuedBytes < QUEUE_HIGH_WATER_BYTES && !this.failure) {
      this.readPaused = false;
      this.fromLeft.resume();
    }
  }

  /** The left neighbour made progress: the idle timer counts from now. */
  private progressed(): void {
    this.sinceProgress = 0;
    this.completedSeen = this.reader.completed;
    this.lastActivity = Date.now();
  }

  /** Hands a received payload back for reuse once it has been consumed (and not queued for sending). */
  release(payload: Uint8Array): void {
    this.reader.release(payload);
  }

  private pendingWrites = 0;
  private flushWaiter: (() => void) | undefined;
  private readonly onWritten = (): void => {
    this.pendingWrites--;
    this.lastWriteProgress = Date.now();
    if (this.pendingWrites === 0) this.flushWaiter?.();
  };
  private lastWriteProgress = Date.now();

  /**
   * Resolves when every queued frame has been handed to the kernel, so callers may reuse the
   * buffers they sent. Fails with TIMEOUT when the right neighbour takes nothing for `timeoutMs`.
   */
  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.pendingWrites === 0) return;
    this.lastWriteProgress = Date.now();
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        clearTimeout(timer);
        this.flushWaiter = undefined;
        this.failWaiters.delete(onFail);
      };
      const onFail = (e: Error): void => {
        settle();
        reject(e);
      };
      const schedule = (ms: number): void => {
        timer = setTimeout(() => {
          const idle = Date.now() - this.lastWriteProgress;
          if (idle < this.timeoutMs) return schedule(this.timeoutMs - idle);
          this.fail(
            new CollectiveError(
              "TIMEOUT",
              `rank ${this.right} took no data for ${this.timeoutMs} ms: the peer is stalled`,
              this.right,
            ),
          );
        }, ms);
      };
      schedule(this.timeoutMs);
      this.failWaiters.add(onFail);
      this.flushWaiter = () => {
        settle();
        resolve();
      };
    });
  }

  /** Marks the links failed (first failure wins), tears both sockets down, rejects the waiter. */
  fail(err: CollectiveError): CollectiveError {
    if (this.failure) return this.failure;
    this.failure = err;
    this.toRight.destroy();
    this.fromLeft.destroy();
    this.waiter = undefined;
    for (const reject of [...this.failWaiters]) reject(err);
    this.onFail(err);
    return err;
  }

  close(): void {
    if (!this.failure) this.failure = new CollectiveError("ABORTED", "collective closed");
    this.toRight.destroy();
    this.fromLeft.destroy();
    this.waiter = undefined;
    for (const reject of [...this.failWaiters]) reject(this.failure);
  }

  private deliver(f: Frame): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve(f);
      return;
    }
    this.frames.push(f);
    // Counted with its header, so a stream of empty frames fills the queue too.
    this.queuedBytes += f.payload.byteLength + FRAME_HEADER_BYTES;
    if (!this.readPaused && this.queuedBytes >= QUEUE_HIGH_WATER_BYTES) {
      this.readPaused = true;
      this.fromLeft.pause();
    }
  }

  private waitFrame(): Promise<Frame> {
    return this.idleWait<Frame>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * Waits for `arm`'s resolve, failing with TIMEOUT when the left makes no progress for
   * `timeoutMs` (re-armed by each completed frame and each PROGRESS_BYTES, so a slow but live link
   * never times out and a trickle does), and with the links' failure when they fail.
   */
  private idleWait<T>(arm: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.recvClosed) return Promise.reject(this.fail(this.recvClosed));
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        clearTimeout(timer);
        this.receiving = false;
        this.failWaiters.delete(onFail);
      };
      const onFail = (e: Error): void => {
        settle();
        reject(e);
      };
      this.receiving = true;
      const schedule = (ms: number): void => {
        timer = setTimeout(() => {
          const idle = Date.now() - this.lastActivity;
          if (idle < this.timeoutMs) return schedule(this.timeoutMs - idle);
          this.fail(
            new CollectiveError(
              "TIMEOUT",
              `no progress from ${this.leftName} for ${this.timeoutMs} ms (${this.sinceProgress} bytes, no whole frame): the peer is stalled or the network is down`,
              this.left,
            ),
          );
        }, ms);
      };
      this.progressed();
      schedule(this.timeoutMs);
      this.failWaiters.add(onFail);
      arm(
        (v) => {
          settle();
          resolve(v);
        },
        (e) => onFail(e),
      );
    });
  }
}

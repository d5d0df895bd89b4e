// One generation's collective group: the ring links of this rank plus the operations on them.
// Operations run one at a time in call order (every rank must call the same sequence); a failure
// of any kind fails this Collective for good: the caller builds a new one for the next generation
// from the same listener.

import { silentLogger, type Logger } from "../../common/log.js";
import type { Registry } from "../../common/metrics.js";
import { pack, planBuckets, unpack } from "./buckets.js";
import { CollectiveError } from "./errors.js";
import { dialPeer } from "./handshake.js";
import type { CollectiveListener } from "./listener.js";
import type { FrameLimits } from "./frames.js";
import { collectiveMetrics, type CollectiveMetrics } from "./metrics.js";
import { ringAllGather } from "./ring-all-gather.js";
import { ringAllReduce } from "./ring-allreduce.js";
import { ringBroadcast } from "./ring-broadcast.js";
import { RingLinks } from "./ring-links.js";

export interface CollectiveOptions {
  rank: number;
  worldSize: number;
  /** Rendezvous round; connections of other generations are refused. */
  generation: number;
  /** "host:port" data-plane address of every rank, in rank order (from the rendezvous). */
  peers: string[];
  /** This process's listener, created before the rendezvous so its address could be advertised. */
  listener: CollectiveListener;
  /** A dead or stalled peer fails the operation on every rank within about this bound. Default 5000. */
  timeoutMs?: number;
  /** How long connect waits for the neighbours to show up. Default max(timeoutMs, 30000). */
  connectTimeoutMs?: number;
  /** Fusion bucket size for allReduceMany. Default 64 MiB. */
  bucketBytes?: number;
  /** Wire format of all-reduce data. "fp16": see README for the error bound. Default "none". */
  compression?: "none" | "fp16";
  /** Wire piece size (pipelining granularity). Default 1 MiB. */
  pieceBytes?: number;
  /**
   * The largest item one rank may contribute to an all-gather (a larger one from a peer fails the
   * operation at its header). Default 256 MiB: an evaluation's predictions of one rank, with room.
   */
  maxGatherBytes?: number;
  /** Aborted by the coordinator when the generation ends: pending and later operations fail ABORTED. */
  signal?: AbortSignal;
  registry?: Registry;
  logger?: Logger;
}

const DEFAULTS = { timeoutMs: 5000, bucketBytes: 64 << 20, pieceBytes: 1 << 20, maxGatherBytes: 256 << 20 };

/** What each frame kind may carry, from the options every rank of the generation shares. */
function frameLimits(pieceElems: number, compression: "none" | "fp16", maxGatherBytes: number): FrameLimits {
  return {
    allReduce: pieceElems * (compression === "fp16" ? 2 : 4),
    broadcast: pieceElems * 4,
    allGather: maxGatherBytes,
  };
}

function validate(o: CollectiveOptions): void {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new CollectiveError(
      "PROTOCOL",
      `collective options.${field}: expected ${want}, got ${JSON.stringify(got)}`,
    );
  };
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) bad("worldSize", "an integer >= 1", o.worldSize);
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize)
    bad("rank", `an integer in [0, ${o.worldSize})`, o.rank);
  if (!Number.isInteger(o.generation) || o.generation < 0 || o.generation > 0xffffffff)
    bad("generation", "a u32", o.generation);
  if (!Array.isArray(o.peers) || o.peers.length !== o.worldSize)
    bad("peers", `${o.worldSize} addresses`, o.peers);
  for (const k of ["timeoutMs", "connectTimeoutMs", "bucketBytes", "pieceBytes", "maxGatherBytes"] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) bad(k, "a positive number", v);
  }
  if (o.compression !== undefined && o.compression !== "none" && o.compression !== "fp16") {
    bad("compression", '"none" or "fp16"', o.compression);
  }
}

export class Collective {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  private readonly links: RingLinks | undefined;
  private readonly metrics: CollectiveMetrics;
  private readonly compression: "none" | "fp16";
  private readonly bucketBytes: number;
  private readonly pieceElems: number;
  private readonly maxGatherBytes: number;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private closed = false;
  private readonly detach: () => void;

  private constructor(
    o: CollectiveOptions,
    links: RingLinks | undefined,
    metrics: CollectiveMetrics,
    log: Logger,
  ) {
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.generation = o.generation;
    this.links = links;
    this.metrics = metrics;
    this.compression = o.compression ?? "none";
    this.bucketBytes = o.bucketBytes ?? DEFAULTS.bucketBytes;
    this.pieceElems = pieceElemsOf(o);
    this.maxGatherBytes = o.maxGatherBytes ?? DEFAULTS.maxGatherBytes;
    this.log = log;
    const signal = o.signal;
    const onAbort = (): void => {
      links?.fail(
        new CollectiveError("ABORTED", `generation ${o.generation} aborted: ${String(signal?.reason ?? "")}`),
      );
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.detach = () => signal?.removeEventListener("abort", onAbort);
  }

  /** Connects this rank to its ring neighbours for `generation`. */
  static async connect(o: CollectiveOptions): Promise<Collective> {
    validate(o);
    const log = (o.logger ?? silentLogger).child({
      component: "collective",
      rank: o.rank,
      generation: o.generation,
    });
    const metrics = collectiveMetrics(o.registry);
    if (o.signal?.aborted)
      throw new CollectiveError("ABORTED", `generation ${o.generation} aborted before connect`);
    if (o.worldSize === 1) return new Collective(o, undefined, metrics, log);

    const timeoutMs = o.timeoutMs ?? DEFAULTS.timeoutMs;
    const connectMs = o.connectTimeoutMs ?? Math.max(timeoutMs, 30_000);
    const left = (o.rank - 1 + o.worldSize) % o.worldSize;
    const right = (o.rank + 1) % o.worldSize;
    const ac = new AbortController();
    const timer = setTimeout(
      () =>
        ac.abort(
          new CollectiveError(
            "TIMEOUT",
            `rank ${o.rank}: ring neighbours (left ${left}, right ${right}) not connected within ${connectMs} ms`,
          ),
        ),
      connectMs,
    );
    const onOuterAbort = (): void =>
      ac.abort(new CollectiveError("ABORTED", `generation ${o.generation} aborted during connect`));
    o.signal?.addEventListener("abort", onOuterAbort, { once: true });
    const hello = { generation: o.generation, fromRank: o.rank, worldSize: o.worldSize };
    // Data flows towards the dialing end (it reads into a reused buffer): dial left, accept right.
    const dial = dialPeer(o.peers[left], hello, left, ac.signal);
    const accept = o.listener.accept(o.generation, right, o.worldSize, ac.signal);
    try {
      const [fromLeft, toRight] = await Promise.all([
        dial.catch((e: unknown) => {
          ac.abort(e);
          throw e;
        }),
        accept.catch((e: unknown) => {
          ac.abort(e);
          throw e;
        }),
      ]);
      const limits = frameLimits(
        pieceElemsOf(o),
        o.compression ?? "none",
        o.maxGatherBytes ?? DEFAULTS.maxGatherBytes,
      );
      const links = new RingLinks(
        {
          rank: o.rank,
          worldSize: o.worldSize,
          toRight,
          fromLeft,
          timeoutMs,
          limits,
          leftAddress: o.peers[left],
        },
        metrics,
        (err) => log.warn("collective_failed", { code: err.code, peer: err.rank, error: err.message }),
      );
      const self = new Collective(o, links, metrics, log);
      log.info("collective_connected", { left, right, peers: o.peers });
      return self;
    } catch (err) {
      // Whichever side succeeded holds a socket nobody will use.
      void dial.then(
        (s) => s.socket.destroy(),
        () => {},
      );
      void accept.then(
        (s) => s.destroy(),
        () => {},
      );
      throw err instanceof CollectiveError
        ? err
        : new CollectiveError("PROTOCOL", `connect failed: ${String(err)}`);
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onOuterAbort);
    }
  }

  /** Sums (or averages) `data` across ranks, in place; every rank ends with the same bits. */
  allReduce(data: Float32Array, op: "sum" | "mean"): Promise<Float32Array> {
    checkOp(op);
    return this.run("allReduce", async (links, seq) => {
      const t0 = performance.now();
      if (links)
        await ringAllReduce(links, seq, data, {
          op,
          compression: this.compression,
          pieceElems: this.pieceElems,
        });
      this.metrics.observeAllReduce((performance.now() - t0) / 1000, this.compression);
      return data;
    });
  }

  /** All-reduces many tensors in place, fused into buckets of `bucketBytes`. */
  async allReduceMany(tensors: Float32Array[], op: "sum" | "mean"): Promise<void> {
    checkOp(op);
    for (const b of planBuckets(tensors, this.bucketBytes)) {
      this.metrics.bucket();
      if (b.kind === "alone") {
        await this.allReduce(b.tensor, op);
        continue;
      }
      const buf = pack(b);
      await this.allReduce(buf, op);
      unpack(buf, b.tensors);
    }
  }

  /** Copies `root`'s `data` into every rank's `data` (same length everywhere). */
  broadcast(data: Float32Array, root: number): Promise<Float32Array> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      return Promise.reject(
        new CollectiveError(
          "PROTOCOL",
          `broadcast root: expected a rank in [0, ${this.worldSize}), got ${root}`,
        ),
      );
    }
    return this.run("broadcast", async (links, seq) => {
      if (links) await ringBroadcast(links, seq, data, root, this.pieceElems);
      return data;
    });
  }

  /** Every rank's bytes, indexed by rank (lengths may differ; each at most maxGatherBytes). */
  allGather(bytes: Uint8Array): Promise<Uint8Array[]> {
    return this.run("allGather", async (links, seq) => {
      if (!links) return [bytes];
      if (bytes.byteLength > this.maxGatherBytes) {
        // Its peers would refuse it at the header; failing here says why, on the rank that can fix it.
        throw links.fail(
          new CollectiveError(
            "PROTOCOL",
            `allGather #${seq}: this rank's item is ${bytes.byteLength} bytes, above the ${this.maxGatherBytes}-byte limit (maxGatherBytes)`,
          ),
        );
      }
      return ringAllGather(links, seq, bytes);
    });
  }

  /** Resolves once every rank has entered the barrier. */
  async barrier(): Promise<void> {
    await this.allGather(new Uint8Array(0));
  }

  /** Tears the links down. Pending operations fail ABORTED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.links?.close();
    await this.queue.catch(() => {});
  }

  private run<T>(name: string, fn: (links: RingLinks | undefined, seq: number) => Promise<T>): Promise<T> {
    const p = this.queue.then(async () => {
      if (this.closed)
        throw new CollectiveError(
          "ABORTED",
          `${name}: collective of generation ${this.generation} is closed`,
        );
      const failed = this.links?.failed;
      if (failed) throw failed;
      const seq = this.seq++;
      try {
        return await fn(this.links, seq);
      } catch (err) {
        if (err instanceof CollectiveError) throw err;
        const wrapped = new CollectiveError("PROTOCOL", `${name} #${seq} failed: ${String(err)}`, undefined, {
          cause: err,
        });
        this.links?.fail(wrapped);
        throw wrapped;
      }
    });
    this.queue = p.catch(() => {});
    return p;
  }
}

function pieceElemsOf(o: CollectiveOptions): number {
  return Math.max(1, Math.floor((o.pieceBytes ?? DEFAULTS.pieceBytes) / 4));
}

function checkOp(op: string): void {
  if (op !== "sum" && op !== "mean")
    throw new CollectiveError("PROTOCOL", `reduce op: expected "sum" or "mean", got ${JSON.stringify(op)}`);
}

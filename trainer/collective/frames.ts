// Length-prefixed frames on a byte stream. Every frame carries the operation's kind and sequence
// number, so two ranks that call operations in a different order fail with PROTOCOL instead of
// silently mixing tensors.
//
// Header (12 bytes, little endian): u32 kind | u32 op sequence | u32 payload length.
//
// The length is the peer's word, so it is checked before anything is allocated for it: each kind
// has a ceiling derived from what its operation sends (an all-reduce or broadcast frame is one
// piece; an all-gather frame one rank's item), and a frame of an unknown kind or above its ceiling
// fails the stream at its header. All-gather items, the only frames that may be large, are
// assembled in a buffer that grows as their bytes arrive, so memory follows the bytes a peer
// actually sent, never the length it declared.

import { addInto, stagedAdder, type StagedAdder } from "./f32-add.js";

export const FRAME_HEADER_BYTES = 12;

export const FrameKind = {
  allReduce: 1,
  broadcast: 2,
  allGather: 3,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** The largest payload a frame of each kind may declare (bytes). */
export interface FrameLimits {
  /** One all-reduce piece: pieceElems float32s (or fp16s with compression). */
  allReduce: number;
  /** One broadcast piece: pieceElems float32s. */
  broadcast: number;
  /** One rank's all-gather item. */
  allGather: number;
}

export interface Frame {
  kind: number;
  seq: number;
  /** Starts at byte offset 0 of its own ArrayBuffer, so Float32Array / Uint16Array views are aligned. */
  payload: Uint8Array;
}

export function encodeHeader(kind: number, seq: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32LE(kind, 0);
  h.writeUInt32LE(seq >>> 0, 4);
  h.writeUInt32LE(length, 8);
  return h;
}

/**
 * Where one expected float32 frame goes: copied over `target` (bytes land there directly) or added
 * into it (from the reader's stage) as its bytes arrive; `done` runs (synchronously, inside the
 * socket's read callback) once the whole frame has landed.
 */
export interface Sink {
  target: Float32Array;
  mode: "add" | "copy";
  done(): void;
}

export interface StreamPlan {
  kind: number;
  seq: number;
  sinks: Sink[];
  next: number;
  /** Called when the last sink is done. */
  finished(): void;
}

/**
 * Reassembles frames from socket chunks of any size. While a stream plan is set, frames are
 * written straight into the plan's sinks instead (the all-reduce hot path).
 *
 * Direct reads: `readTarget` says where the socket's next read should land so that no byte is
 * copied twice while a plan runs: a copy sink's bytes land in the sink's target itself, an add
 * sink's bytes land in the adder's stage and are added from there, and a header lands in the
 * header buffer (reads never cross a frame boundary, so payload bytes never need moving); a frame
 * outside a plan lands in its own payload buffer. The read's byte count then goes to `landed`.
 * `push` takes bytes read anywhere else (the first read after connecting, tests).
 */
export class FrameReader {
  private plan: StreamPlan | undefined;
  /** The sink being filled: `byte` payload bytes landed so far, `elem` float32s added so far, `left` to come. */
  private streaming: { sink: Sink; byte: number; elem: number; left: number } | undefined;
  private readonly adder: StagedAdder;
  /** Bytes of the current add sink waiting in the stage (fewer than 4 after each add). */
  private stageFill = 0;
  /** Payload buffers handed back by the consumer, reused to keep the garbage collector out of the hot path. */
  private readonly pool = new Map<number, ArrayBuffer[]>();
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Frames completed so far (into a sink or assembled): the links' idle timer counts them as progress. */
  completed = 0;
  /** A frame outside a plan: `payload` may be shorter than `length` while it grows (all-gather items). */
  private current:
    { kind: number; seq: number; length: number; payload: Uint8Array; fill: number } | undefined;
  /** Ceiling by kind (index); -1 for a kind no operation sends. */
  private readonly maxByKind: number[];
  /** Payloads up to this size (a piece) get their whole buffer at the header; larger ones grow. */
  private readonly eagerBytes: number;

  constructor(limits: FrameLimits, adder: StagedAdder = stagedAdder()) {
    this.adder = adder;
    this.maxByKind = [];
    this.maxByKind[0] = -1;
    this.maxByKind[FrameKind.allReduce] = limits.allReduce;
    this.maxByKind[FrameKind.broadcast] = limits.broadcast;
    this.maxByKind[FrameKind.allGather] = limits.allGather;
    this.eagerBytes = Math.max(limits.allReduce, limits.broadcast);
  }

  /**
   * Routes the coming frames into `plan`'s sinks. Frames already assembled must be fed by the
   * caller first (`applyAssembled`); a frame being assembled right now completes into the plan.
   */
  setPlan(plan: StreamPlan | undefined): void {
    this.plan = plan;
  }

  /** Applies a complete frame to the plan's next sink (for frames that arrived before the plan). */
  applyAssembled(f: Frame): void {
    const plan = this.plan!;
    const sink = this.nextSink(f.kind, f.seq, f.payload.byteLength);
    const src = new Float32Array(f.payload.buffer, f.payload.byteOffset, sink.target.length);
    if (sink.mode === "add") addInto(sink.target, src);
    else sink.target.set(src);
    this.release(f.payload);
    this.sinkDone(plan, sink);
  }

  /**
   * Where the next socket read should land (then `landed`); never empty. Valid until the next
   * `push` or `landed`. (The return type allows a reader that wants the caller's buffer.)
   */
  readTarget(): Uint8Array | undefined {
    const st = this.streaming;
    if (st === undefined) {
      // Between operations too: a read never swallows the start of the next all-reduce, so its
      // first payload bytes already land in place once the operation has set its plan.
      const cur = this.current;
      return cur === undefined ? this.header.subarray(this.headerFill) : cur.payload.subarray(cur.fill);
    }
    if (st.sink.mode === "copy") {
      const t = st.sink.target;
      return new Uint8Array(t.buffer, t.byteOffset + st.byte, st.left);
    }
    const stage = this.adder.stage;
    return stage.subarray(this.stageFill, Math.min(stage.length, this.stageFill + st.left));
  }

  /** Takes `n` bytes that a socket read put into the last `readTarget`; returns the frames completed. */
  landed(n: number): Frame[] {
    const st = this.streaming;
    if (st === undefined) {
      const out: Frame[] = [];
      const cur = this.current;
      if (cur !== undefined) {
        cur.fill += n;
        this.filled(out);
        return out;
      }
      this.headerFill += n;
      if (this.headerFill === FRAME_HEADER_BYTES) this.onHeader(out);
      return out;
    }
    st.left -= n;
    if (st.sink.mode === "copy") st.byte += n;
    else this.staged(n);
    if (st.left === 0) this.sinkComplete();
    return [];
  }

  private nextSink(kind: number, seq: number, length: number): Sink {
    const plan = this.plan!;
    const sink = plan.sinks[plan.next];
    if (kind !== plan.kind || seq !== plan.seq >>> 0) {
      throw new FrameMismatch(
        `got frame kind ${kind} of op #${seq}, expected kind ${plan.kind} of op #${plan.seq}: ranks called operations in a different order`,
      );
    }
    if (length !== sink.target.length * 4) {
      throw new FrameMismatch(
        `got a ${length}-byte piece where ${sink.target.length} float32s were expected: ranks passed different tensor sizes or compression settings`,
      );
    }
    plan.next++;
    return sink;
  }

  private sinkDone(plan: StreamPlan, sink: Sink): void {
    this.completed++;
    sink.done();
    if (plan.next === plan.sinks.length && this.plan === plan) {
      this.plan = undefined;
      plan.finished();
    }
  }

  private sinkComplete(): void {
    const st = this.streaming!;
    this.streaming = undefined;
    this.sinkDone(this.plan!, st.sink);
  }

  /** `n` more bytes of the current add sink sit in the stage after `stageFill`: add every whole float32. */
  private staged(n: number): void {
    const st = this.streaming!;
    const stage = this.adder.stage;
    this.stageFill += n;
    st.byte += n;
    const whole = this.stageFill & ~3;
    if (whole === 0) return;
    const count = whole / 4;
    this.adder.addFromStage(st.sink.target.subarray(st.elem, st.elem + count));
    st.elem += count;
    // A float32 split across reads: its first bytes move to the front, the next read completes it.
    const rest = this.stageFill - whole;
    if (rest > 0) stage.copyWithin(0, whole, this.stageFill);
    this.stageFill = rest;
  }

  /** Writes payload bytes chunk[pos, pos+n) into the streaming sink (from a caller's buffer). */
  private feed(chunk: Uint8Array, pos: number, n: number): void {
    const st = this.streaming!;
    const { target, mode } = st.sink;
    if (mode === "copy") {
      new Uint8Array(target.buffer, target.byteOffset + st.byte, n).set(chunk.subarray(pos, pos + n));
      st.byte += n;
      return;
    }
    const stage = this.adder.stage;
    for (let p = pos, end = pos + n; p < end;) {
      const take = Math.min(end - p, stage.length - this.stageFill);
      stage.set(chunk.subarray(p, p + take), this.stageFill);
      this.staged(take);
      p += take;
    }
  }

  /** Returns a payload buffer for reuse; the caller must not touch it afterwards. */
  release(payload: Uint8Array): void {
    const list = this.pool.get(payload.byteLength) ?? [];
    if (list.length < 8 && payload.byteOffset === 0 && payload.buffer.byteLength === payload.byteLength) {
      list.push(payload.buffer as ArrayBuffer);
      this.pool.set(payload.byteLength, list);
    }
  }

  private alloc(length: number): Uint8Array {
    const reused = this.pool.get(length)?.pop();
    if (reused) return new Uint8Array(reused, 0, length);
    return this.allocFresh(length);
  }

  private allocFresh(length: number): Uint8Array {
    // allocUnsafeSlow: not from the shared pool, so byteOffset is 0 and typed views are aligned.
    return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  }

  /** Bytes were added to the frame being assembled: complete it, or make room for the next ones. */
  private filled(out: Frame[]): void {
    const cur = this.current!;
    if (cur.fill === cur.length) this.assembled(out);
    else if (cur.fill === cur.payload.length) {
      // Doubling copies each byte at most about twice more, and only for items beyond a piece.
      const grown = this.allocFresh(Math.min(cur.length, cur.payload.length * 2));
      grown.set(cur.payload);
      cur.payload = grown;
    }
  }

  /** A complete header is in `header`: start streaming its payload into the plan, or assembling it. */
  private onHeader(out: Frame[]): void {
    this.headerFill = 0;
    const kind = this.header.readUInt32LE(0);
    const seq = this.header.readUInt32LE(4);
    const length = this.header.readUInt32LE(8);
    const max = kind < this.maxByKind.length ? (this.maxByKind[kind] ?? -1) : -1;
    if (max < 0) {
      throw new FrameMismatch(
        `got a frame of kind ${kind}, which no collective operation sends: not a ring peer`,
      );
    }
    if (length > max) {
      throw new FrameMismatch(
        `a frame of kind ${kind} (${KIND_NAMES[kind]}) declares ${length} bytes, above its ${max}-byte limit: refused before reading it`,
      );
    }
    if (this.plan) {
      const plan = this.plan;
      const sink = this.nextSink(kind, seq, length);
      if (length === 0) this.sinkDone(plan, sink);
      else {
        this.streaming = { sink, byte: 0, elem: 0, left: length };
        this.stageFill = 0;
      }
      return;
    }
    const payload = length <= this.eagerBytes ? this.alloc(length) : this.allocFresh(this.eagerBytes);
    this.current = { kind, seq, length, payload, fill: 0 };
    if (length === 0) this.assembled(out);
  }

  /** Feeds one chunk; returns the frames it completed, in order. Throws on a corrupt length. */
  push(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.streaming !== undefined) {
        const st = this.streaming;
        const take = Math.min(st.left, chunk.length - pos);
        this.feed(chunk, pos, take);
        st.left -= take;
        pos += take;
        if (st.left === 0) this.sinkComplete();
        continue;
      }
      if (this.current === undefined) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        this.onHeader(out);
        continue;
      }
      const cur = this.current;
      const take = Math.min(cur.payload.length - cur.fill, chunk.length - pos);
      cur.payload.set(chunk.subarray(pos, pos + take), cur.fill);
      cur.fill += take;
      pos += take;
      this.filled(out);
    }
    return out;
  }

  /** The frame being assembled is complete: into the plan (when nothing precedes it) or out. */
  private assembled(out: Frame[]): void {
    const cur = this.current!;
    this.current = undefined;
    this.completed++;
    const f = { kind: cur.kind, seq: cur.seq, payload: cur.payload };
    if (this.plan && out.length === 0) this.applyAssembled(f);
    else out.push(f);
  }
}

const KIND_NAMES: Record<number, string> = {
  [FrameKind.allReduce]: "all-reduce",
  [FrameKind.broadcast]: "broadcast",
  [FrameKind.allGather]: "all-gather",
};

/** A frame that does not fit the stream: the ranks disagree about the operation, or it is no peer. */
export class FrameMismatch extends Error {}

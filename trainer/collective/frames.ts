// Length-prefixed frames on a byte stream. Every frame carries the operation's kind and sequence
// number, so two ranks that call operations in a different order fail with PROTOCOL instead of
// silently mixing tensors.
//
// Header (12 bytes, little endian): u32 kind | u32 op sequence | u32 payload length.

export const FRAME_HEADER_BYTES = 12;
/** Frames larger than this are refused: no collective piece comes near it, so it is corruption. */
export const MAX_FRAME_BYTES = 1 << 30;

export const FrameKind = {
  allReduce: 1,
  broadcast: 2,
  allGather: 3,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

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
 * Where one expected float32 frame goes: added into or copied over `target` as its bytes arrive,
 * with no intermediate buffer; `done` runs (synchronously, inside the socket's data handler) once
 * the whole frame has landed.
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

// Kept as its own small function so V8 optimises the hot loop on its own.
export function addInto(acc: Float32Array, inc: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += inc[i];
}

/**
 * Reassembles frames from socket chunks of any size. While a stream plan is set, frames are
 * written straight into the plan's sinks instead (the all-reduce hot path).
 */
export class FrameReader {
  private plan: StreamPlan | undefined;
  private streaming: { sink: Sink; elem: number; left: number } | undefined;
  private readonly carry = new Uint8Array(4);
  private readonly carryF32 = new Float32Array(this.carry.buffer);
  private carryLen = 0;
  private scratch = new Float32Array(16384);
  /** Payload buffers handed back by the consumer, reused to keep the garbage collector out of the hot path. */
  private readonly pool = new Map<number, ArrayBuffer[]>();
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private current: { kind: number; seq: number; payload: Uint8Array; fill: number } | undefined;

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
    sink.done();
    if (plan.next === plan.sinks.length && this.plan === plan) {
      this.plan = undefined;
      plan.finished();
    }
  }

  /** Writes payload bytes chunk[pos, pos+n) into the streaming sink, carrying split float32s over. */
  private feed(chunk: Uint8Array, pos: number, n: number): void {
    const st = this.streaming!;
    const { target, mode } = st.sink;
    let p = pos;
    const end = pos + n;
    if (this.carryLen > 0) {
      const take = Math.min(4 - this.carryLen, end - p);
      this.carry.set(chunk.subarray(p, p + take), this.carryLen);
      this.carryLen += take;
      p += take;
      if (this.carryLen === 4) {
        if (mode === "add") target[st.elem] += this.carryF32[0];
        else target[st.elem] = this.carryF32[0];
        st.elem++;
        this.carryLen = 0;
      }
    }
    const whole = (end - p) & ~3;
    if (whole > 0) {
      const count = whole / 4;
      const at = chunk.byteOffset + p;
      let src: Float32Array; // [count]
      if (at % 4 === 0) src = new Float32Array(chunk.buffer, at, count);
      else {
        if (this.scratch.length < count) this.scratch = new Float32Array(count);
        new Uint8Array(this.scratch.buffer, 0, whole).set(chunk.subarray(p, p + whole));
        src = this.scratch.subarray(0, count);
      }
      const dst = target.subarray(st.elem, st.elem + count);
      if (mode === "add") addInto(dst, src);
      else dst.set(src);
      st.elem += count;
      p += whole;
    }
    if (p < end) {
      this.carry.set(chunk.subarray(p, end), 0);
      this.carryLen = end - p;
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
    // allocUnsafeSlow: not from the shared pool, so byteOffset is 0 and typed views are aligned.
    return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
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
        if (st.left === 0) {
          this.streaming = undefined;
          this.sinkDone(this.plan!, st.sink);
        }
        continue;
      }
      if (this.current === undefined) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        this.headerFill = 0;
        const kind = this.header.readUInt32LE(0);
        const seq = this.header.readUInt32LE(4);
        const length = this.header.readUInt32LE(8);
        if (length > MAX_FRAME_BYTES) {
          throw new Error(`frame length ${length} exceeds ${MAX_FRAME_BYTES} bytes: the stream is corrupt`);
        }
        // allocUnsafeSlow: not from the shared pool, so byteOffset is 0 and typed views are aligned.
        if (this.plan) {
          const plan = this.plan;
          const sink = this.nextSink(kind, seq, length);
          if (length === 0) this.sinkDone(plan, sink);
          else this.streaming = { sink, elem: 0, left: length };
          continue;
        }
        const payload = this.alloc(length);
        this.current = { kind, seq, payload, fill: 0 };
        if (length === 0) {
          out.push({ kind, seq, payload });
          this.current = undefined;
        }
        continue;
      }
      const cur = this.current;
      const take = Math.min(cur.payload.length - cur.fill, chunk.length - pos);
      cur.payload.set(chunk.subarray(pos, pos + take), cur.fill);
      cur.fill += take;
      pos += take;
      if (cur.fill === cur.payload.length) {
        this.current = undefined;
        const f = { kind: cur.kind, seq: cur.seq, payload: cur.payload };
        if (this.plan && out.length === 0) this.applyAssembled(f);
        else out.push(f);
      }
    }
    return out;
  }
}

/** A frame that does not fit the stream plan: the ranks disagree about the operation. */
export class FrameMismatch extends Error {}

// Ring all-reduce, chunked and pipelined (the scheme of gloo's AllreduceRingChunked, written for a
// byte-stream transport):
//
//   reduce-scatter: N-1 steps. At step s rank r sends segment (r-s) and receives segment (r-s-1)
//     from its left neighbour, adding its own values. After the last step rank r holds the full
//     sum of segment (r+1): it is that segment's owner.
//   all-gather:     N-1 steps. At step t rank r sends segment (r+1-t) and receives segment (r-t),
//     overwriting its copy with the owner's bits.
//
// Pipelining: segments travel in pieces; a received piece is reduced and sent on at once, so every
// link stays busy while the rest of the segment is still in flight.
//
// Identical bits on every rank: each segment is summed once, along the ring in a fixed order,
// and finalised (mean, fp16 rounding) by its owner only; the all-gather copies the owner's bits.

import { CollectiveError } from "./errors.js";
import { addF16, decodeF16, encodeF16 } from "./fp16.js";
import { FrameKind, type Sink } from "./frames.js";
import type { RingLinks } from "./ring-links.js";
import { mod, piecesOf, type Piece } from "./segments.js";

export interface AllReduceOptions {
  op: "sum" | "mean";
  compression: "none" | "fp16";
  /** Elements per wire piece. */
  pieceElems: number;
}

function f32Bytes(data: Float32Array, p: Piece): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset + p.start * 4, (p.end - p.start) * 4);
}

/** data[p] rounded to fp16 for the wire. */
function f16Bytes(data: Float32Array, p: Piece): Uint8Array {
  const h = new Uint16Array(p.end - p.start);
  encodeF16(data.subarray(p.start, p.end), h);
  return new Uint8Array(h.buffer);
}

/** Sums (op "sum") or averages (op "mean") `data` across the ring, in place, on every rank. */
export async function ringAllReduce(
  links: RingLinks,
  seq: number,
  data: Float32Array,
  o: AllReduceOptions,
): Promise<void> {
  // Sum and mean of one rank are the input; nothing goes on the wire.
  if (links.worldSize === 1) return;
  const pieces = (k: number): Piece[] => piecesOf(data.length, links.worldSize, k, o.pieceElems);
  if (o.compression === "fp16") return ringAllReduceF16(links, seq, data, o.op, pieces);
  return ringAllReduceF32(links, seq, data, o.op, pieces);
}

/**
 * The fp16 path: pieces travel as fp16 and are accumulated in float32. Each receive is awaited, as
 * the payload must be decoded before it is added or forwarded.
 */
async function ringAllReduceF16(
  links: RingLinks,
  seq: number,
  data: Float32Array,
  op: "sum" | "mean",
  pieces: (k: number) => Piece[],
): Promise<void> {
  const n = links.worldSize;
  const r = links.rank;
  const kind = FrameKind.allReduce;

  // --- reduce-scatter ---
  for (const p of pieces(r)) links.send(kind, seq, f16Bytes(data, p));
  for (let s = 0; s < n - 1; s++) {
    const last = s === n - 2;
    for (const p of pieces(mod(r - s - 1, n))) {
      const payload = await links.recv(kind, seq);
      const acc = data.subarray(p.start, p.end); // [piece]
      if (payload.byteLength !== acc.length * 2) throw sizeMismatch(links, payload.byteLength, acc.length);
      addF16(acc, new Uint16Array(payload.buffer, payload.byteOffset, acc.length));
      links.release(payload);
      if (!last) {
        links.send(kind, seq, f16Bytes(data, p));
        continue;
      }
      // This rank owns the piece now: finalise it once, here, and start the all-gather with it.
      if (op === "mean") for (let i = 0; i < acc.length; i++) acc[i] /= n;
      const w = f16Bytes(data, p);
      decodeF16(new Uint16Array(w.buffer, 0, acc.length), acc); // the owner keeps the bits it sends
      links.send(kind, seq, w);
    }
  }

  // --- all-gather ---
  for (let t = 0; t < n - 1; t++) {
    for (const p of pieces(mod(r - t, n))) {
      const payload = await links.recv(kind, seq);
      const dst = data.subarray(p.start, p.end); // [piece]
      if (payload.byteLength !== dst.length * 2) throw sizeMismatch(links, payload.byteLength, dst.length);
      decodeF16(new Uint16Array(payload.buffer, payload.byteOffset, dst.length), dst);
      // Forward the received bytes unchanged, so the owner's bits reach everyone.
      if (t < n - 2) links.send(kind, seq, payload);
    }
  }
  // Own buffers may still sit in the socket's queue.
  await links.flush();
}

/**
 * The float32 path, event-driven: the whole schedule of receives is laid out up front as sinks, so
 * each piece is copied into `data` by the socket read itself (all-gather) or added into it from the
 * stage the read landed in (reduce-scatter, SIMD), and sent on from inside the read callback the
 * moment it is complete: no per-piece buffers, no await per piece.
 */
async function ringAllReduceF32(
  links: RingLinks,
  seq: number,
  data: Float32Array,
  op: "sum" | "mean",
  pieces: (k: number) => Piece[],
): Promise<void> {
  const n = links.worldSize;
  const r = links.rank;
  const kind = FrameKind.allReduce;
  const sinks: Sink[] = [];
  // reduce-scatter
  for (let s = 0; s < n - 1; s++) {
    const last = s === n - 2;
    for (const p of pieces(mod(r - s - 1, n))) {
      const acc = data.subarray(p.start, p.end); // [piece]
      sinks.push({
        target: acc,
        mode: "add",
        done: () => {
          // On the last step this rank owns the piece: finalise it once, here, then all-gather it.
          if (last && op === "mean") for (let i = 0; i < acc.length; i++) acc[i] /= n;
          links.send(kind, seq, f32Bytes(data, p));
        },
      });
    }
  }
  // all-gather: the owner's bits overwrite this rank's copy, and travel on unchanged.
  for (let t = 0; t < n - 1; t++) {
    const forward = t < n - 2;
    for (const p of pieces(mod(r - t, n))) {
      sinks.push({
        target: data.subarray(p.start, p.end),
        mode: "copy",
        done: forward ? () => links.send(kind, seq, f32Bytes(data, p)) : () => {},
      });
    }
  }
  for (const p of pieces(r)) links.send(kind, seq, f32Bytes(data, p));
  await links.stream(kind, seq, sinks);
  // Views of `data` may still sit in the socket's queue; the caller reuses `data` once we return.
  await links.flush();
}

function sizeMismatch(links: RingLinks, got: number, elems: number): CollectiveError {
  return links.fail(
    new CollectiveError(
      "PROTOCOL",
      `rank ${links.left} sent a ${got}-byte piece where ${elems} elements were expected: ranks passed different tensor sizes or compression settings`,
      links.left,
    ),
  );
}

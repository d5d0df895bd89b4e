// Frame reassembly and the streaming (plan) path, fed with random chunk splits, including splits
// inside headers and inside float32s (the carry path) and misaligned chunk offsets (the scratch path).
import { describe, expect, test } from "vitest";
import { encodeHeader, FrameReader, type Sink } from "../../trainer/collective/frames.js";

function stream(frames: { kind: number; seq: number; payload: Uint8Array }[]): Uint8Array {
  const parts = frames.flatMap((f) => [encodeHeader(f.kind, f.seq, f.payload.byteLength), f.payload]);
  return Buffer.concat(parts);
}

function* randomChunks(bytes: Uint8Array, seed: number): Generator<Uint8Array> {
  let s = seed;
  let pos = 0;
  while (pos < bytes.length) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + (s % 23);
    // Copy at offset 1 of a fresh buffer sometimes, so chunk.byteOffset is not 4-aligned.
    const off = s & 1;
    const buf = new Uint8Array(n + off);
    buf.set(bytes.subarray(pos, pos + n), off);
    yield buf.subarray(off, off + Math.min(n, bytes.length - pos));
    pos += n;
  }
}

describe("FrameReader", () => {
  test("reassembles frames split anywhere", () => {
    const frames = [0, 1, 5, 40, 3].map((len, i) => ({
      kind: 3,
      seq: i,
      payload: Uint8Array.from({ length: len }, (_, j) => (j * 7 + i) & 255),
    }));
    const r = new FrameReader();
    const got = [];
    for (const c of randomChunks(stream(frames), 42)) got.push(...r.push(c));
    expect(got.map((f) => [f.seq, Array.from(f.payload)])).toEqual(
      frames.map((f) => [f.seq, Array.from(f.payload)]),
    );
  });

  test("streams float32 frames into sinks (add and copy) across arbitrary splits", () => {
    const a = Float32Array.from({ length: 37 }, (_, i) => i * 0.25 - 3);
    const b = Float32Array.from({ length: 11 }, (_, i) => 100 + i);
    const bytes = (x: Float32Array) => new Uint8Array(x.buffer);
    // One frame before the plan exists (assembled, then applied), then two streamed ones.
    const s = stream([
      { kind: 1, seq: 9, payload: bytes(b) },
      { kind: 1, seq: 9, payload: bytes(a) },
      { kind: 1, seq: 9, payload: bytes(b) },
    ]);
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = new FrameReader();
      const chunks = [...randomChunks(s, seed)];
      const early = r.push(chunks[0]).concat(r.push(chunks[1]));
      const acc = Float32Array.from({ length: 37 }, () => 1); // [37]
      const copy = new Float32Array(11);
      const first = new Float32Array(11);
      const done: string[] = [];
      const sinks: Sink[] = [
        { target: first, mode: "copy", done: () => done.push("first") },
        { target: acc, mode: "add", done: () => done.push("acc") },
        { target: copy, mode: "copy", done: () => done.push("copy") },
      ];
      let finished = false;
      r.setPlan({ kind: 1, seq: 9, sinks, next: 0, finished: () => void (finished = true) });
      for (const f of early) r.applyAssembled(f);
      for (const c of chunks.slice(2)) expect(r.push(c)).toEqual([]);
      expect(finished).toBe(true);
      expect(done).toEqual(["first", "acc", "copy"]);
      expect(Array.from(first)).toEqual(Array.from(b));
      expect(Array.from(acc)).toEqual(Array.from(a, (x) => Math.fround(x + 1)));
      expect(Array.from(copy)).toEqual(Array.from(b));
    }
  });

  test("a frame of the wrong operation or size is refused while streaming", () => {
    const r = new FrameReader();
    r.setPlan({
      kind: 1,
      seq: 2,
      sinks: [{ target: new Float32Array(4), mode: "add", done: () => {} }],
      next: 0,
      finished: () => {},
    });
    expect(() => r.push(encodeHeader(1, 3, 16))).toThrow(/op #3, expected kind 1 of op #2/);
    const r2 = new FrameReader();
    r2.setPlan({
      kind: 1,
      seq: 2,
      sinks: [{ target: new Float32Array(4), mode: "add", done: () => {} }],
      next: 0,
      finished: () => {},
    });
    expect(() => r2.push(encodeHeader(1, 2, 12))).toThrow(/12-byte piece where 4 float32s/);
  });
});

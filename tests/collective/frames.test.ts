// Frame reassembly and the streaming (plan) path, fed with random chunk splits, including splits
// inside headers and inside float32s (the add stage carries a split float32 over), misaligned chunk
// offsets, and direct reads into the place the reader names.
import { describe, expect, test } from "vitest";
import { stagedAdder } from "../../trainer/collective/f32-add.js";
import { encodeHeader, FrameReader, type Sink } from "../../trainer/collective/frames.js";

/** Ceilings well above every frame these tests send (the limits have tests of their own). */
const LIMITS = { allReduce: 1 << 20, broadcast: 1 << 20, allGather: 1 << 20 };

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
    const r = new FrameReader(LIMITS);
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
      const r = new FrameReader(LIMITS);
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
    const r = new FrameReader(LIMITS);
    r.setPlan({
      kind: 1,
      seq: 2,
      sinks: [{ target: new Float32Array(4), mode: "add", done: () => {} }],
      next: 0,
      finished: () => {},
    });
    expect(() => r.push(encodeHeader(1, 3, 16))).toThrow(/op #3, expected kind 1 of op #2/);
    const r2 = new FrameReader(LIMITS);
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

describe("FrameReader direct reads", () => {
  // A socket that honours readTarget: each "read" lands up to `n` bytes of the stream where the
  // reader asked (or in a generic buffer, then push), like the onread buffer function does.
  function drive(r: FrameReader, bytes: Uint8Array, seed: number, genericFirst: number): void {
    let s = seed;
    let pos = 0;
    let generic = genericFirst; // the first reads go to the generic buffer (armed before the plan)
    while (pos < bytes.length) {
      s = (s * 1103515245 + 12345) >>> 0;
      const want = 1 + (s % 29);
      const target = generic-- > 0 ? undefined : r.readTarget();
      if (target === undefined) {
        const n = Math.min(want, bytes.length - pos);
        expect(r.push(bytes.slice(pos, pos + n))).toEqual([]);
        pos += n;
        continue;
      }
      expect(target.length).toBeGreaterThan(0);
      const n = Math.min(want, target.length, bytes.length - pos);
      target.set(bytes.subarray(pos, pos + n));
      expect(r.landed(n)).toEqual([]);
      pos += n;
    }
  }

  test.each([0, 1, 3])(
    "copy sinks in place, add sinks through a tiny stage (%i generic reads first)",
    (g) => {
      const xs = Array.from({ length: 4 }, (_, k) =>
        Float32Array.from({ length: 9 + k * 7 }, (_, i) => i - k * 0.5),
      );
      const bytes = (x: Float32Array) => new Uint8Array(x.buffer);
      const s = stream(xs.map((x) => ({ kind: 1, seq: 4, payload: bytes(x) })));
      for (const stage of [16, 48]) {
        for (const seed of [1, 2, 3]) {
          const r = new FrameReader(LIMITS, stagedAdder(stage));
          const targets = xs.map((x, k) => Float32Array.from({ length: x.length }, () => (k % 2 ? 0 : 0.25)));
          const done: number[] = [];
          const sinks: Sink[] = targets.map((t, k) => ({
            target: t,
            mode: k % 2 ? "copy" : "add",
            done: () => done.push(k),
          }));
          let finished = false;
          r.setPlan({ kind: 1, seq: 4, sinks, next: 0, finished: () => void (finished = true) });
          drive(r, s, seed, g);
          expect(finished).toBe(true);
          expect(done).toEqual([0, 1, 2, 3]);
          expect(r.readTarget()?.length).toBe(12); // plan over: the next read takes a header only
          xs.forEach((x, k) =>
            expect(Array.from(targets[k])).toEqual(Array.from(x, (v) => (k % 2 ? v : Math.fround(v + 0.25)))),
          );
        }
      }
    },
  );

  test("frames outside a plan land in their own payload buffers", () => {
    const frames = [0, 3, 40, 1].map((len, i) => ({
      kind: 3,
      seq: i,
      payload: Uint8Array.from({ length: len }, (_, j) => (j * 5 + i) & 255),
    }));
    const bytes = stream(frames);
    const r = new FrameReader(LIMITS);
    const got = [];
    let s = 7;
    for (let pos = 0; pos < bytes.length;) {
      s = (s * 1103515245 + 12345) >>> 0;
      const target = r.readTarget()!;
      expect(target.length).toBeGreaterThan(0);
      const n = Math.min(1 + (s % 17), target.length, bytes.length - pos);
      target.set(bytes.subarray(pos, pos + n));
      got.push(...r.landed(n));
      pos += n;
    }
    expect(got.map((f) => [f.seq, Array.from(f.payload)])).toEqual(
      frames.map((f) => [f.seq, Array.from(f.payload)]),
    );
  });

  test("an item larger than a piece grows in place as its bytes land, by push and by direct reads", () => {
    // Pieces of 8 bytes: every all-gather item here starts in an 8-byte buffer and grows.
    const limits = { allReduce: 8, broadcast: 8, allGather: 5000 };
    const frames = [1000, 9, 5000, 8, 0, 4097].map((len, i) => ({
      kind: 3,
      seq: i,
      payload: Uint8Array.from({ length: len }, (_, j) => (j * 13 + i) & 255),
    }));
    const bytes = stream(frames);
    const want = frames.map((f) => [f.seq, Array.from(f.payload)]);
    for (const seed of [1, 2, 3]) {
      const pushed = new FrameReader(limits);
      const viaPush = [];
      for (const c of randomChunks(bytes, seed)) viaPush.push(...pushed.push(c));
      expect(viaPush.map((f) => [f.seq, Array.from(f.payload)])).toEqual(want);

      const direct = new FrameReader(limits);
      const viaRead = [];
      let s = seed;
      for (let pos = 0; pos < bytes.length;) {
        s = (s * 1103515245 + 12345) >>> 0;
        const target = direct.readTarget()!;
        expect(target.length).toBeGreaterThan(0);
        const n = Math.min(1 + (s % 700), target.length, bytes.length - pos);
        target.set(bytes.subarray(pos, pos + n));
        viaRead.push(...direct.landed(n));
        pos += n;
      }
      expect(viaRead.map((f) => [f.seq, Array.from(f.payload)])).toEqual(want);
      expect(viaRead.every((f) => f.payload.byteOffset === 0)).toBe(true);
    }
    // One byte over the item limit is refused at its header.
    expect(() => new FrameReader(limits).push(encodeHeader(3, 0, 5001))).toThrow(/above its 5000-byte limit/);
  });

  test("a wrong header read directly is refused", () => {
    const r = new FrameReader(LIMITS);
    r.setPlan({
      kind: 1,
      seq: 2,
      sinks: [{ target: new Float32Array(4), mode: "copy", done: () => {} }],
      next: 0,
      finished: () => {},
    });
    const target = r.readTarget()!;
    expect(target.length).toBe(12);
    target.set(encodeHeader(1, 2, 12));
    expect(() => r.landed(12)).toThrow(/12-byte piece where 4 float32s/);
  });
});

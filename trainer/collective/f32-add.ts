// The reduce step's float32 add. The hot path is a WebAssembly SIMD kernel (f32x4.add, four lanes,
// unrolled four times) emitted from the byte table below at start-up: no binary blob and no
// dependency. The scalar loop is the fallback where WebAssembly SIMD is missing.
//
// Why: a JavaScript `acc[i] += inc[i]` over Float32Arrays widens to float64 and narrows back per
// element and is not vectorised by V8: about 1.4 ns per element, the largest CPU cost of the ring
// after the socket itself (12 ms per 32 MiB here; the kernel with its staging copies: under 4 ms).
// The kernel sees only its own linear memory, so the links receive reduce-scatter bytes straight
// into that memory (the stage; see FrameReader), and the accumulator is copied in and out with
// TypedArray.set (memcpy, from and into cache).
//
// Bits: f32x4.add is IEEE 754 binary32 addition, round to nearest even, lane by lane: the value the
// scalar loop computes (a float64 sum of two float32 values rounded once to float32 is the same
// value), so results do not depend on which path summed a piece. Only NaN payloads may differ, and
// each element is summed on one rank only, so every rank still ends with the same bits.

const PAGE = 65536;

// Opcodes used by the kernel (WebAssembly core spec 1.0 + fixed-width SIMD).
const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32GeU: 0x4f,
  f32Load: 0x2a,
  f32Store: 0x38,
  f32Add: 0x92,
  simd: 0xfd,
  void: 0x40,
  i32: 0x7f,
} as const;
const simd = { v128Load: 0x00, v128Store: 0x0b, f32x4Add: 0xe4 } as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const name = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];

/**
 * add(dst, src, bytes): f32 dst[i] += src[i] over `bytes` bytes of linear memory (a multiple of 4;
 * any alignment). Locals: 0 dst, 1 src, 2 bytes, 3 end of dst, 4 end of the unrolled part.
 */
function addBody(): number[] {
  const UNROLL = 4; // 4 x 16 bytes per iteration
  const STEP = 16 * UNROLL;
  const get = (i: number): number[] => [op.localGet, i];
  const set = (i: number): number[] => [op.localSet, i];
  const bump = (i: number, by: number): number[] => [
    ...get(i),
    op.i32Const,
    ...sleb(by),
    op.i32Add,
    ...set(i),
  ];
  const memarg = (alignLog2: number, offset: number): number[] => [alignLog2, ...uleb(offset)];
  const lanes: number[] = [];
  for (let k = 0; k < UNROLL; k++) {
    const off = 16 * k;
    lanes.push(
      ...get(0),
      ...get(0),
      op.simd,
      ...uleb(simd.v128Load),
      ...memarg(2, off),
      ...get(1),
      op.simd,
      ...uleb(simd.v128Load),
      ...memarg(2, off),
      op.simd,
      ...uleb(simd.f32x4Add),
      op.simd,
      ...uleb(simd.v128Store),
      ...memarg(2, off),
    );
  }
  // A loop that runs while `cond` leaves 0 on the stack (br_if 1 leaves the enclosing block).
  const whileNot = (cond: number[], body: number[]): number[] => [
    op.block,
    op.void,
    op.loop,
    op.void,
    ...cond,
    op.brIf,
    1,
    ...body,
    op.br,
    0,
    op.end,
    op.end,
  ];
  const code = [
    ...get(0),
    ...get(2),
    op.i32Add,
    ...set(3), // end = dst + bytes
    ...get(3),
    ...get(2),
    op.i32Const,
    ...sleb(STEP - 1),
    op.i32And,
    op.i32Sub, // end - bytes % STEP
    ...set(4), // end of the unrolled part
    ...whileNot([...get(0), ...get(4), op.i32GeU], [...lanes, ...bump(0, STEP), ...bump(1, STEP)]),
    ...whileNot(
      [...get(0), ...get(3), op.i32GeU],
      [
        ...get(0),
        ...get(0),
        op.f32Load,
        ...memarg(2, 0),
        ...get(1),
        op.f32Load,
        ...memarg(2, 0),
        op.f32Add,
        op.f32Store,
        ...memarg(2, 0),
        ...bump(0, 4),
        ...bump(1, 4),
      ],
    ),
    op.end,
  ];
  const locals = vec([[2, op.i32]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** The module's bytes: memory of `pages` 64 KiB pages (exported "mem"), function "add". */
export function f32AddModuleBytes(pages: number): Uint8Array {
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d], // "\0asm"
    ...[0x01, 0x00, 0x00, 0x00], // version 1
    ...section(1, vec([[0x60, ...vec([[op.i32], [op.i32], [op.i32]]), ...vec([])]])), // type (i32 i32 i32) -> ()
    ...section(3, vec([uleb(0)])), // function 0 has type 0
    ...section(5, vec([[0x00, ...uleb(pages)]])), // memory: min pages, no max
    ...section(
      7,
      vec([
        [...name("mem"), 0x02, 0],
        [...name("add"), 0x00, 0],
      ]),
    ),
    ...section(10, vec([addBody()])),
  ];
  return Uint8Array.from(bytes);
}

interface F32AddKernel {
  /** The kernel's linear memory; fixed size, never grown (growing would detach every view). */
  readonly memory: Uint8Array;
  /** memory[dst .. dst+bytes) += memory[src .. src+bytes) as float32 (byte offsets). */
  add(dst: number, src: number, bytes: number): void;
}

// Node has WebAssembly; this project's TypeScript libs (ES2023, no DOM) do not declare it.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** A kernel instance with at least `bytes` of linear memory, or undefined without WebAssembly SIMD. */
function f32AddKernel(bytes: number): F32AddKernel | undefined {
  if (wasmApi === undefined) return undefined;
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  let exports: Record<string, unknown>;
  try {
    exports = new wasmApi.Instance(new wasmApi.Module(f32AddModuleBytes(pages))).exports;
  } catch {
    return undefined; // no SIMD in this engine: validation refuses the module
  }
  const mem = exports.mem as { buffer: ArrayBuffer };
  const add = exports.add as (dst: number, src: number, bytes: number) => void;
  return { memory: new Uint8Array(mem.buffer), add };
}

/** acc[i] += inc[i], in JavaScript (same bits as the kernel); small, so V8 optimises it on its own. */
export function addInto(acc: Float32Array, inc: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += inc[i];
}

/**
 * A receive area and the add that reads it: bytes land in `stage` (a socket read, or a copy), then
 * `addFromStage` adds the float32s at its start into an accumulator anywhere in memory.
 */
export interface StagedAdder {
  /** Receive area (its first byte is 16-byte aligned); its length is a multiple of 16. */
  readonly stage: Uint8Array;
  /** acc[i] += float32 i of stage, for i < acc.length (acc.length * 4 <= stage.length). */
  addFromStage(acc: Float32Array): void;
  /** "wasm-simd" or "scalar": which path this process got. */
  readonly kind: "wasm-simd" | "scalar";
}

/** Default stage: large enough for a whole default (1 MiB) piece per socket read. */
export const STAGE_BYTES = 2 << 20;

export function stagedAdder(stageBytes = STAGE_BYTES, allowWasm = true): StagedAdder {
  const cap = Math.max(16, Math.ceil(stageBytes / 16) * 16);
  // Memory: [0, cap) the stage, [cap, 2 cap) the accumulator's copy.
  const k = allowWasm ? f32AddKernel(2 * cap) : undefined;
  if (!k) {
    const stage = new Uint8Array(cap);
    const inc = new Float32Array(stage.buffer); // [cap / 4]
    return { stage, kind: "scalar", addFromStage: (acc) => addInto(acc, inc.subarray(0, acc.length)) };
  }
  const scratch = new Float32Array(k.memory.buffer, cap, cap / 4); // [cap / 4]
  return {
    stage: k.memory.subarray(0, cap),
    kind: "wasm-simd",
    addFromStage(acc) {
      const s = scratch.subarray(0, acc.length);
      s.set(acc);
      k.add(cap, 0, acc.length * 4);
      acc.set(s);
    },
  };
}

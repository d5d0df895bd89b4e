// safetensors (Hugging Face): an 8-byte little-endian header length, a JSON header mapping each
// tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the end of the
// header) plus an optional "__metadata__" string map, the header padded with spaces to a multiple of
// 8, then the tensor bytes, contiguous, with no holes and no overlaps.
import { open, type FileHandle } from "node:fs/promises";
import { writeFileAtomic } from "../../common/fs.js";

export type DType = "F32" | "F16" | "BF16" | "U8" | "I8" | "I32" | "I64" | "F64";

const BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, U8: 1, I8: 1, I32: 4, I64: 8 };
/** Refuse headers beyond this (the reference implementation's limit is 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Bytes of the tensor's data (end - begin). */
  byteLength: number;
  /** Byte range within the data section. */
  begin: number;
  end: number;
}

export interface TensorData {
  name: string;
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;
}

export class SafetensorsError extends Error {
  constructor(source: string, detail: string) {
    super(`safetensors ${source}: ${detail}`);
    this.name = "SafetensorsError";
  }
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function viewBytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function encodeSafetensors(tensors: TensorData[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const size = numel(t.shape) * BYTES[t.dtype];
    if (size !== t.data.byteLength) {
      throw new SafetensorsError(
        t.name,
        `shape [${t.shape}] ${t.dtype} needs ${size} bytes, data has ${t.data.byteLength}`,
      );
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hbytes = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const t of tensors) {
    out.set(viewBytes(t.data), p);
    p += t.data.byteLength;
  }
  return out;
}

/** Parses and checks a header; `dataLength` is the size of the data section. */
export function parseHeader(
  json: string,
  dataLength: number,
  source: string,
): { infos: TensorInfo[]; metadata: Record<string, string> } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new SafetensorsError(source, "header is not valid JSON");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new SafetensorsError(source, "header is not a JSON object");
  const infos: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (v === null || typeof v !== "object" || Object.values(v).some((x) => typeof x !== "string")) {
        throw new SafetensorsError(source, "__metadata__ must map strings to strings");
      }
      metadata = v as Record<string, string>;
      continue;
    }
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new SafetensorsError(
        source,
        `tensor ${name}: expected an object with dtype, shape, data_offsets`,
      );
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== "string" || !(e.dtype in BYTES))
      throw new SafetensorsError(source, `tensor ${name}: unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0))
      throw new SafetensorsError(source, `tensor ${name}: bad shape`);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((x) => Number.isInteger(x) && x >= 0) ||
      off[0] > off[1]
    ) {
      throw new SafetensorsError(source, `tensor ${name}: bad data_offsets`);
    }
    const dtype = e.dtype as DType;
    const shape = e.shape as number[];
    if (off[1] - off[0] !== numel(shape) * BYTES[dtype]) {
      throw new SafetensorsError(
        source,
        `tensor ${name}: data_offsets span ${off[1] - off[0]} bytes, shape [${shape}] ${dtype} needs ${numel(shape) * BYTES[dtype]}`,
      );
    }
    infos.push({ name, dtype, shape, byteLength: off[1] - off[0], begin: off[0], end: off[1] });
  }
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expect = 0;
  for (const t of sorted) {
    if (t.begin < expect) throw new SafetensorsError(source, `tensor ${t.name} overlaps the previous tensor`);
    if (t.begin > expect) throw new SafetensorsError(source, `hole in the data before tensor ${t.name}`);
    expect = t.end;
  }
  if (expect !== dataLength) {
    throw new SafetensorsError(
      source,
      expect > dataLength
        ? `truncated: tensors need ${expect} data bytes, file has ${dataLength}`
        : `${dataLength - expect} trailing bytes after the last tensor`,
    );
  }
  return { infos, metadata };
}

function splitHeader(bytes: Uint8Array, source: string): { headerLen: number } {
  if (bytes.byteLength < 8)
    throw new SafetensorsError(source, "truncated: shorter than the 8-byte header length");
  const len = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (len > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(source, `header length ${len} exceeds ${MAX_HEADER_BYTES}`);
  return { headerLen: Number(len) };
}

/** Converts raw little-endian bytes of a float dtype to float32. */
export function toFloat32(dtype: DType, raw: Uint8Array): Float32Array {
  const aligned = raw.byteOffset % 8 === 0 ? raw : raw.slice();
  switch (dtype) {
    case "F32":
      return new Float32Array(
        aligned.buffer.slice(aligned.byteOffset, aligned.byteOffset + aligned.byteLength),
      );
    case "F64":
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8));
    case "BF16": {
      const u16 = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
      const u32 = new Uint32Array(u16.length);
      for (let i = 0; i < u16.length; i++) u32[i] = u16[i] << 16;
      return new Float32Array(u32.buffer);
    }
    case "F16": {
      const u16 = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
      const out = new Float32Array(u16.length);
      for (let i = 0; i < u16.length; i++) out[i] = halfToFloat(u16[i]);
      return out;
    }
    default:
      throw new Error(`cannot read ${dtype} as float32`);
  }
}

/** float32 → float16 bits, round to nearest even (as torch's .half()). */
export function floatToHalf(v: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = v;
  const x = u[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** float32 values as F32, F16 or BF16 data (round to nearest even), for writing. */
export function fromFloat32(dtype: DType, data: Float32Array): ArrayBufferView {
  switch (dtype) {
    case "F32":
      return data;
    case "F16":
      return Uint16Array.from(data, floatToHalf);
    case "BF16": {
      const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
      return Uint16Array.from(u32, (x) => {
        if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
        return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
      });
    }
    default:
      throw new Error(`cannot write float32 values as ${dtype}; use F32, F16 or BF16`);
  }
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function typedView(dtype: DType, raw: Uint8Array): ArrayBufferView {
  const b = raw.slice();
  switch (dtype) {
    case "F32":
      return new Float32Array(b.buffer);
    case "F64":
      return new Float64Array(b.buffer);
    case "I32":
      return new Int32Array(b.buffer);
    case "I64":
      return new BigInt64Array(b.buffer);
    case "I8":
      return new Int8Array(b.buffer);
    case "F16":
    case "BF16":
      return new Uint16Array(b.buffer);
    default:
      return b;
  }
}

export function decodeSafetensors(
  bytes: Uint8Array,
  source = "buffer",
): { tensors: TensorData[]; metadata: Record<string, string> } {
  const { headerLen } = splitHeader(bytes, source);
  if (8 + headerLen > bytes.byteLength) throw new SafetensorsError(source, "truncated inside the header");
  const json = Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString("utf8");
  const dataStart = 8 + headerLen;
  const { infos, metadata } = parseHeader(json, bytes.byteLength - dataStart, source);
  const tensors = infos.map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: typedView(t.dtype, bytes.subarray(dataStart + t.begin, dataStart + t.end)),
  }));
  return { tensors, metadata };
}

/** A safetensors file read lazily: the header at open, one tensor's bytes per read. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly dataStart: number,
    private readonly byName: Map<string, TensorInfo>,
    private readonly meta: Record<string, string>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const fh = await open(path, "r");
    try {
      const size = (await fh.stat()).size;
      const head = new Uint8Array(8);
      await fh.read(head, 0, 8, 0);
      const { headerLen } = splitHeader(size < 8 ? head.subarray(0, size) : head, path);
      if (8 + headerLen > size) throw new SafetensorsError(path, "truncated inside the header");
      const hb = Buffer.alloc(headerLen);
      await fh.read(hb, 0, headerLen, 8);
      const { infos, metadata } = parseHeader(hb.toString("utf8"), size - 8 - headerLen, path);
      return new SafetensorsFile(path, fh, 8 + headerLen, new Map(infos.map((i) => [i.name, i])), metadata);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  keys(): string[] {
    return [...this.byName.keys()];
  }

  info(name: string): TensorInfo {
    const i = this.byName.get(name);
    if (!i) throw new SafetensorsError(this.path, `no tensor named ${JSON.stringify(name)}`);
    return i;
  }

  metadata(): Record<string, string> {
    return this.meta;
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const i = this.info(name);
    const buf = new Uint8Array(i.end - i.begin);
    let done = 0;
    // A read may return fewer bytes than asked (large tensors); loop until the range is complete.
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, this.dataStart + i.begin + done);
      if (bytesRead === 0) throw new SafetensorsError(this.path, `truncated while reading ${name}`);
      done += bytesRead;
    }
    return buf;
  }

  async readFloat32(name: string): Promise<Float32Array> {
    return toFloat32(this.info(name).dtype, await this.readRaw(name));
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export async function writeSafetensors(
  path: string,
  tensors: TensorData[],
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

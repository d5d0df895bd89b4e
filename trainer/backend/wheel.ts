// Reads members out of a Python wheel (a ZIP file) without unpacking the rest: the native backend
// needs two shared libraries and a dozen headers out of a 274 MB TensorFlow wheel of 13,000 files.
// Layout facts from PKWARE's APPNOTE.TXT (end of central directory 0x06054b50, central directory
// header 0x02014b50, local header 0x04034b50, ZIP64 extra field 0x0001; methods 0 stored, 8 deflate).
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable, Transform, Writable } from "node:stream";
import { createInflateRaw, crc32 } from "node:zlib";

export interface WheelEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
const ZIP64_EOCD_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const U32_MAX = 0xffffffff;

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Lists a wheel's members from its central directory (ZIP64 included). */
export async function listWheel(path: string): Promise<WheelEntry[]> {
  const fh = await open(path, "r");
  let fileSize: number;
  try {
    fileSize = (await fh.stat()).size;
  } finally {
    await fh.close();
  }
  // The end-of-central-directory record is the last 22 bytes plus a comment of at most 64 KiB.
  const tailLen = Math.min(fileSize, 22 + 0xffff + 20);
  const tail = await readAt(path, fileSize - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${path}: not a ZIP file (no end of central directory record)`);
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  const loc = eocd - 20;
  const hasZip64 = loc >= 0 && tail.readUInt32LE(loc) === ZIP64_EOCD_LOCATOR_SIG;
  // Saturated fields mean ZIP64, but an archive of exactly 65,535 entries may have none.
  if (hasZip64 || cdOffset === U32_MAX || cdSize === U32_MAX) {
    if (!hasZip64) throw new Error(`${path}: ZIP64 archive without a ZIP64 locator`);
    const z64 = await readAt(path, Number(tail.readBigUInt64LE(loc + 8)), 56);
    if (z64.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw new Error(`${path}: bad ZIP64 end record`);
    count = Number(z64.readBigUInt64LE(32));
    cdSize = Number(z64.readBigUInt64LE(40));
    cdOffset = Number(z64.readBigUInt64LE(48));
  }
  const cd = await readAt(path, cdOffset, cdSize);
  const entries: WheelEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CEN_SIG)
      throw new Error(`${path}: central directory entry ${i} is damaged`);
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
    // ZIP64 sizes and offset live in extra field 0x0001, in this order, only where the 32-bit field is saturated.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cd.readUInt16LE(e);
      const len = cd.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === U32_MAX) {
          size = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (compressedSize === U32_MAX) {
          compressedSize = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (localHeaderOffset === U32_MAX) localHeaderOffset = Number(cd.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    entries.push({ name, method, crc32: crc, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/** Counts and checksums what passes through, to compare with the central directory afterwards. */
function checker(path: string, entry: WheelEntry): { stream: Transform; verify(): void } {
  let crc = 0;
  let written = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      crc = crc32(chunk, crc);
      written += chunk.length;
      done(null, chunk);
    },
  });
  return {
    stream,
    verify() {
      if (written !== entry.size || crc >>> 0 !== entry.crc32 >>> 0)
        throw new Error(
          `${path}: ${entry.name} is damaged (${written} of ${entry.size} bytes, CRC ${(crc >>> 0).toString(16)} expected ${entry.crc32.toString(16)})`,
        );
    },
  };
}

/** A member's bytes, whole (for small files: headers, METADATA), checked like an extraction. */
export async function readWheelEntry(path: string, entry: WheelEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  const check = checker(path, entry);
  await pipeEntry(path, entry, check.stream, collect);
  check.verify();
  return Buffer.concat(chunks);
}

/**
 * Writes one member to `dest` atomically (temporary name, then rename), checking its size and
 * CRC-32 against the central directory so a truncated download never becomes a library.
 */
export async function extractWheelEntry(path: string, entry: WheelEntry, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  const check = checker(path, entry);
  try {
    await pipeEntry(path, entry, check.stream, createWriteStream(tmp, { mode: 0o755 }));
    check.verify();
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Streams a member's contents through `stages` (inflating it when it is deflated). */
async function pipeEntry(
  path: string,
  entry: WheelEntry,
  ...stages: [Writable] | [Transform, Writable]
): Promise<void> {
  const [raw, inflate] = await entryStages(path, entry);
  const streams = inflate ? [raw, inflate, ...stages] : [raw, ...stages];
  // pipeline's typings cannot take a list built at run time; each element is a stream.
  await (pipeline as (...s: unknown[]) => Promise<void>)(...streams);
}

async function entryStages(path: string, entry: WheelEntry): Promise<[Readable, Transform?]> {
  const loc = await readAt(path, entry.localHeaderOffset, 30);
  if (loc.readUInt32LE(0) !== LOC_SIG) throw new Error(`${path}: ${entry.name}: bad local header`);
  if (entry.method !== 0 && entry.method !== 8)
    throw new Error(`${path}: ${entry.name}: unsupported compression method ${entry.method}`);
  if (entry.compressedSize === 0) return [Readable.from([])];
  const start = entry.localHeaderOffset + 30 + loc.readUInt16LE(26) + loc.readUInt16LE(28);
  const raw = createReadStream(path, { start, end: start + entry.compressedSize - 1 });
  return entry.method === 0 ? [raw] : [raw, createInflateRaw()];
}

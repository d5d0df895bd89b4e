// Image loading: decode with sharp, greyscale, resize keeping aspect (padded with black, the colour
// of the air around a radiograph), normalise. Decoded pixels are cached as raw bytes keyed by
// (path, size, mtime, file size), so epochs after the first read no JPEG.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { DataError } from "./types.js";

/**
 * Normalisation constants: x = (pixel / 255 - PIXEL_MEAN) / PIXEL_STD. Fixed (not per image) so a
 * faint and a dense film stay different to the model. 0.5 / 0.25 put the synthetic sets and
 * MIMIC-CXR-JPG frontal films at roughly mean 0, std 1 (MIMIC-CXR-JPG pixel means sit near 0.5).
 */
export const PIXEL_MEAN = 0.5;
export const PIXEL_STD = 0.25;

export interface ImageOptions {
  /** Output side in pixels; the result is [size * size], row-major. */
  size: number;
  /** Where decoded images are cached; no cache when absent. */
  cacheDir?: string;
}

// Cache file: "RFI1" magic, uint32 LE side, then side*side bytes of greyscale.
const MAGIC = Buffer.from("RFI1");

function cachePath(abs: string, size: number, cacheDir: string): string {
  const st = statSync(abs);
  const key = createHash("sha1").update(`${abs}\0${size}\0${st.mtimeMs}\0${st.size}`).digest("hex");
  return join(cacheDir, key.slice(0, 2), `${key}.u8`);
}

function readCache(path: string, size: number): Uint8Array | null {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return null;
  }
  if (buf.length !== 8 + size * size || !buf.subarray(0, 4).equals(MAGIC) || buf.readUInt32LE(4) !== size)
    return null;
  return new Uint8Array(buf.buffer, buf.byteOffset + 8, size * size);
}

function writeCache(path: string, size: number, pixels: Uint8Array): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const head = Buffer.alloc(8);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(size, 4);
  // Temporary name then rename: a reader (another rank) never sees a half-written file.
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, Buffer.concat([head, pixels]));
  renameSync(tmp, path);
}

/** Decodes to [size*size] greyscale bytes; throws DataError("corrupt_image") on a bad or truncated file. */
export async function decodeGrey(path: string, size: number): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(path, { failOn: "truncated" })
      .greyscale()
      .resize(size, size, { fit: "contain", background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels === 1) return new Uint8Array(data.buffer, data.byteOffset, size * size);
    const out = new Uint8Array(size * size);
    for (let i = 0; i < out.length; i++) out[i] = data[i * info.channels];
    return out;
  } catch (e) {
    throw new DataError(
      `cannot decode image ${path}: ${(e as Error).message}; the file is corrupt or not an image (run "radfleet data check")`,
      "corrupt_image",
    );
  }
}

export async function loadImage(path: string, opts: ImageOptions): Promise<Float32Array> {
  const abs = resolve(path);
  let pixels: Uint8Array | null = null;
  let cp: string | null = null;
  if (opts.cacheDir) {
    cp = cachePath(abs, opts.size, opts.cacheDir);
    pixels = readCache(cp, opts.size);
  }
  if (!pixels) {
    pixels = await decodeGrey(abs, opts.size);
    if (cp) writeCache(cp, opts.size, pixels);
  }
  const out = new Float32Array(opts.size * opts.size); // [H, W]
  for (let i = 0; i < out.length; i++) out[i] = (pixels[i] / 255 - PIXEL_MEAN) / PIXEL_STD;
  return out;
}

/** Why a study's chosen image cannot be used (absent, or not decoding when verified), or null. */
export async function imageProblem(
  path: string,
  verify: boolean | undefined,
): Promise<"missing_image" | "corrupt_image" | null> {
  if (!existsSync(path)) return "missing_image";
  if (verify && !(await verifyImage(path))) return "corrupt_image";
  return null;
}

/** True when the whole file decodes (a truncated JPEG fails here even though its header reads). */
export async function verifyImage(path: string): Promise<boolean> {
  try {
    await decodeGrey(path, 8);
    return true;
  } catch (e) {
    if (e instanceof DataError) return false;
    throw e;
  }
}

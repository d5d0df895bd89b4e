import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadImage, PIXEL_MEAN, PIXEL_STD } from "../../trainer/data/index.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "radfleet-data-image-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadImage", () => {
  it("keeps the aspect ratio, pads with black and normalises with the documented constants", async () => {
    // A 40 x 20 all-white RGB image: resized to 16 wide, 8 high, centred with black bands.
    const path = join(dir, "wide.jpg");
    await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 255, b: 255 } } })
      .jpeg({ quality: 100 })
      .toFile(path);
    const x = await loadImage(path, { size: 16 });
    expect(x.length).toBe(256);
    const white = (1 - PIXEL_MEAN) / PIXEL_STD;
    const black = (0 - PIXEL_MEAN) / PIXEL_STD;
    expect(x[0]).toBeCloseTo(black, 1); // top band
    expect(x[15 * 16 + 15]).toBeCloseTo(black, 1); // bottom band
    expect(x[8 * 16 + 8]).toBeCloseTo(white, 1); // middle
  });

  it("caches decoded pixels keyed by path, size and mtime, and reads the cache instead of the JPEG", async () => {
    const path = join(dir, "grey.png");
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toFile(path);
    const cacheDir = join(dir, "cache");
    const a = await loadImage(path, { size: 8, cacheDir });
    const files = readdirSync(cacheDir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".u8"));
    expect(files.length).toBe(1);
    const cacheFile = join(cacheDir, files[0]);
    const buf = readFileSync(cacheFile);
    expect(buf.length).toBe(8 + 64);
    // Overwrite the cached pixels: the next load must return them, proving no decode happened.
    buf.fill(255, 8);
    writeFileSync(cacheFile, buf);
    const b = await loadImage(path, { size: 8, cacheDir });
    expect(b[0]).toBeCloseTo((1 - PIXEL_MEAN) / PIXEL_STD, 5);
    expect(a[0]).toBeCloseTo((128 / 255 - PIXEL_MEAN) / PIXEL_STD, 1);
    // Another size is another cache entry; a rewritten file (new mtime/size) invalidates.
    await loadImage(path, { size: 4, cacheDir });
    expect(
      readdirSync(cacheDir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".u8")).length,
    ).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toFile(path);
    const c = await loadImage(path, { size: 8, cacheDir });
    expect(c[0]).toBeCloseTo(-PIXEL_MEAN / PIXEL_STD, 2);
  });
});

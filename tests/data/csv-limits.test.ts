// What a table may cost to read: a gzip that inflates past the cap (a zip bomb) is refused once the
// cap is reached, naming the file, not after inflating all of it; so is a plain table that large or
// a path that is not a regular file. The MIMIC reader applies the default cap to a real data set.
import { writeFileSync, mkdtempSync, rmSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset, synthesize } from "../../trainer/data/index.js";
import { MAX_CSV_BYTES, readCsv } from "../../trainer/data/csv.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "radfleet-csv-limits-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A gzip stream (concatenated members, as gunzip reads them) inflating to `mib` MiB of zeros. */
function bomb(mib: number): Buffer {
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 }); // ~1 KiB each
  return Buffer.concat(Array.from({ length: mib }, () => member));
}

describe("CSV size limits", () => {
  it("a gzip bomb is refused at the cap, naming the file", () => {
    const path = join(dir, "split.csv.gz");
    writeFileSync(path, bomb(16));
    expect(() => readCsv(path, 4 << 20)).toThrow(
      `${path}: decompresses to more than the 4194304 bytes a table may hold; refusing it`,
    );
    // Under the cap a table reads as before.
    const small = join(dir, "ok.csv.gz");
    writeFileSync(small, gzipSync("a,b\n1,2\n"));
    expect(readCsv(small, 4 << 20).rows).toEqual([["1", "2"]]);
  });

  it("a plain table above the cap, a corrupt gzip or a directory is refused with its path", () => {
    const plain = join(dir, "big.csv");
    writeFileSync(plain, Buffer.alloc(2048, 0x61));
    expect(() => readCsv(plain, 1024)).toThrow(`${plain}: 2048 bytes, more than the 1024 a table may hold`);
    const corrupt = join(dir, "corrupt.csv.gz");
    writeFileSync(corrupt, "not gzip at all");
    expect(() => readCsv(corrupt)).toThrow(new RegExp(`^${corrupt}: not a valid gzip file`));
    const folder = join(dir, "folder.csv");
    mkdirSync(folder);
    expect(() => readCsv(folder)).toThrow(`${folder}: not a regular file`);
  });

  it("the MIMIC reader refuses a split table that inflates past the default cap", async () => {
    const root = join(dir, "mimic");
    await synthesize({ out: root, studies: 4, seed: 1, difficulty: "easy", imageSize: 16, gzip: true });
    const split = join(root, "mimic-cxr-2.0.0-split.csv.gz");
    expect(readFileSync(split).length).toBeGreaterThan(0);
    writeFileSync(split, bomb((MAX_CSV_BYTES >> 20) + 1));
    await expect(loadDataset({ format: "mimic-cxr-jpg", root, section: "findings" })).rejects.toThrow(
      `${split}: decompresses to more than the ${MAX_CSV_BYTES} bytes a table may hold`,
    );
  });
});

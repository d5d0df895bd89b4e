// The wheel reader against ZIP files written by an independent producer (Python's zipfile, as pip
// and wheel write them): stored and deflated members, ZIP64 records, and damage detection.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { extractWheelEntry, listWheel, readWheelEntry } from "../../trainer/backend/wheel.js";

const MAKE_ZIP = `
import sys, zipfile
path, zip64 = sys.argv[1], sys.argv[2] == "1"
if zip64:
    # Python then writes ZIP64 extras in the central directory and a ZIP64 end record, as it does
    # for archives past 4 GiB or 65,535 entries.
    zipfile.ZIP64_LIMIT = 1
    zipfile.ZIP_FILECOUNT_LIMIT = 1
big = bytes((i * 7919) % 251 for i in range(300_000))
members = [("pkg/stored.txt", b"stored bytes\\n", zipfile.ZIP_STORED), ("pkg/lib/libthing.so.2", big, zipfile.ZIP_DEFLATED), ("pkg/empty", b"", zipfile.ZIP_DEFLATED)]
if zip64:
    members.append(("pkg/forced64.bin", b"zip64 member", zipfile.ZIP_DEFLATED))
with zipfile.ZipFile(path, "w", allowZip64=True) as z:
    for name, data, method in members:
        info = zipfile.ZipInfo(name)
        info.compress_type = method
        with z.open(info, "w", force_zip64=zip64) as f:
            f.write(data)
    z.comment = b"a trailing archive comment"
`;

async function makeZip(zip64: boolean): Promise<{ path: string; big: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), "radfleet-wheel-"));
  const path = join(dir, "x-1.0-py3-none-any.whl");
  execFileSync("python3", ["-c", MAKE_ZIP, path, zip64 ? "1" : "0"]);
  const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
  return { path, big };
}

describe("wheel reader", () => {
  it("lists and extracts stored, deflated and empty members byte for byte", async () => {
    const { path, big } = await makeZip(false);
    const entries = await listWheel(path);
    expect(entries.map((e) => e.name)).toEqual(["pkg/stored.txt", "pkg/lib/libthing.so.2", "pkg/empty"]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect((await readWheelEntry(path, byName.get("pkg/stored.txt")!)).toString()).toBe("stored bytes\n");
    expect((await readWheelEntry(path, byName.get("pkg/empty")!)).length).toBe(0);
    const out = join(path, "..", "out", "libthing.so.2");
    await extractWheelEntry(path, byName.get("pkg/lib/libthing.so.2")!, out);
    expect((await readFile(out)).equals(big)).toBe(true);
  });

  it("reads ZIP64 end records and extra fields", async () => {
    const { path, big } = await makeZip(true);
    const bytes = await readFile(path);
    expect(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true); // a ZIP64 end record
    const entries = await listWheel(path);
    expect(entries).toHaveLength(4);
    const e = entries.find((x) => x.name === "pkg/forced64.bin")!;
    expect((await readWheelEntry(path, e)).toString()).toBe("zip64 member");
    const lib = entries.find((x) => x.name === "pkg/lib/libthing.so.2")!;
    expect((await readWheelEntry(path, lib)).equals(big)).toBe(true);
  });

  it("refuses a damaged member (CRC mismatch) and leaves no file behind; names a non-ZIP", async () => {
    const { path } = await makeZip(false);
    const entries = await listWheel(path);
    const e = entries.find((x) => x.name === "pkg/stored.txt")!;
    const bytes = await readFile(path);
    // Flip a byte of the stored member's data (after its 30-byte local header and name).
    const dataAt = e.localHeaderOffset + 30 + "pkg/stored.txt".length;
    bytes[dataAt] ^= 0xff;
    const damaged = join(path, "..", "damaged.whl");
    await writeFile(damaged, bytes);
    const out = join(path, "..", "out2", "stored.txt");
    await expect(extractWheelEntry(damaged, e, out)).rejects.toThrow(/pkg\/stored\.txt is damaged/);
    await expect(readWheelEntry(damaged, e)).rejects.toThrow(/pkg\/stored\.txt is damaged/);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
    const notZip = join(path, "..", "not.whl");
    await writeFile(notZip, "hello");
    await expect(listWheel(notZip)).rejects.toThrow(/not a ZIP file/);
  });
});

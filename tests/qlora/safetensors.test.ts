import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  SafetensorsFile,
  decodeSafetensors,
  encodeSafetensors,
  writeSafetensors,
} from "../../trainer/qlora/index.js";

function withHeader(header: object, data: Uint8Array, lenOverride?: bigint): Uint8Array {
  const h = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe("safetensors", () => {
  it("a file written by radfleet reads back identically, lazily, with metadata", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-st-"));
    const path = join(dir, "m.safetensors");
    const f32 = Float32Array.from([1.5, -2, 3.25, 0]);
    const u8 = Uint8Array.from([1, 2, 3]);
    const i64 = BigInt64Array.from([5n, -7n]);
    await writeSafetensors(
      path,
      [
        { name: "a.weight", dtype: "F32", shape: [2, 2], data: f32 },
        { name: "q", dtype: "U8", shape: [3], data: u8 },
        { name: "ids", dtype: "I64", shape: [2], data: i64 },
      ],
      { format: "pt" },
    );
    const bytes = await readFile(path);
    const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const f = await SafetensorsFile.open(path);
    expect(f.keys().sort()).toEqual(["a.weight", "ids", "q"]);
    expect(f.metadata()).toEqual({ format: "pt" });
    expect(f.info("a.weight")).toMatchObject({ dtype: "F32", shape: [2, 2] });
    expect(Array.from(await f.readFloat32("a.weight"))).toEqual([1.5, -2, 3.25, 0]);
    expect(Array.from(await f.readRaw("q"))).toEqual([1, 2, 3]);
    await f.close();
    const dec = decodeSafetensors(new Uint8Array(bytes));
    expect(Array.from(dec.tensors.find((t) => t.name === "ids")!.data as BigInt64Array)).toEqual([5n, -7n]);
  });

  it("converts F16 and BF16 to float32", async () => {
    const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3555]); // 1, -2, ~0.3333
    const bf16 = Uint16Array.from([0x3f80, 0xc040]); // 1, -3
    const dir = await mkdtemp(join(tmpdir(), "radfleet-st-"));
    const path = join(dir, "h.safetensors");
    await writeSafetensors(path, [
      { name: "h", dtype: "F16", shape: [3], data: f16 },
      { name: "b", dtype: "BF16", shape: [2], data: bf16 },
    ]);
    const f = await SafetensorsFile.open(path);
    const h = await f.readFloat32("h");
    expect([h[0], h[1]]).toEqual([1, -2]);
    expect(h[2]).toBeCloseTo(1 / 3, 3);
    expect(Array.from(await f.readFloat32("b"))).toEqual([1, -3]);
    await f.close();
  });

  const bad: Array<[string, Uint8Array, RegExp]> = [
    [
      "truncated data",
      withHeader({ t: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
      /truncated/,
    ],
    ["shorter than 8 bytes", new Uint8Array(5), /truncated/],
    [
      "overlapping offsets",
      withHeader(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        },
        new Uint8Array(12),
      ),
      /overlaps/,
    ],
    [
      "a hole",
      withHeader({ a: { dtype: "U8", shape: [2], data_offsets: [2, 4] } }, new Uint8Array(4)),
      /hole/,
    ],
    ["header too large", withHeader({}, new Uint8Array(0), 10n ** 12n), /exceeds/],
    [
      "unknown dtype",
      withHeader({ a: { dtype: "Q7", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /unknown dtype "Q7"/,
    ],
    [
      "offsets that disagree with the shape",
      withHeader({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /needs 12/,
    ],
  ];
  it.each(bad)("refuses a malformed file: %s", async (_name, bytes, message) => {
    expect(() => decodeSafetensors(bytes, "x.safetensors")).toThrow(message);
    const dir = await mkdtemp(join(tmpdir(), "radfleet-st-"));
    await writeFile(join(dir, "x.safetensors"), bytes);
    await expect(SafetensorsFile.open(join(dir, "x.safetensors"))).rejects.toThrow(message);
  });

  it("refuses data that does not match the declared shape when writing", () => {
    expect(() =>
      encodeSafetensors([{ name: "a", dtype: "F32", shape: [3], data: new Float32Array(2) }]),
    ).toThrow(/needs 12 bytes/);
  });
});

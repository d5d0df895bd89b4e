// Compares radfleet's serialized NF4 state with what bitsandbytes 0.50.2 itself wrote for the tiny
// LLaVA fixture (tests/fixtures/model/tiny-llava-nf4, made by tests/reference/model/make_tiny_llava_nf4.py
// with F.quantize_4bit(..., blocksize=64, compress_statistics=True, quant_type="nf4") and
// QuantState.as_dict(packed=True)).
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  BNB_STATE_SUFFIX,
  SafetensorsFile,
  dequantizeNf4,
  loadQuantizedLinear,
  nf4ToBnbTensors,
  quantizeNf4,
} from "../../trainer/qlora/index.js";

const FLOAT = "tests/fixtures/model/tiny-llava/model.safetensors";
const BNB = "tests/fixtures/model/tiny-llava-nf4/model.safetensors";

const relClose = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(b), 1e-30);

describe.skipIf(!existsSync(FLOAT) || !existsSync(BNB))("NF4 state against bitsandbytes' own files", () => {
  it("every quantized weight: codes and absmax codes byte-exact, tables and state equal, loads back", async () => {
    const src = await SafetensorsFile.open(FLOAT);
    const bnb = await SafetensorsFile.open(BNB);
    try {
      const weights = bnb
        .keys()
        .filter((k) => k.endsWith(`.${BNB_STATE_SUFFIX}`))
        .map((k) => k.slice(0, -BNB_STATE_SUFFIX.length - 1));
      expect(weights.length).toBeGreaterThan(0);
      for (const key of weights) {
        const info = src.info(key);
        const q = quantizeNf4(await src.readFloat32(key), info.shape, { blockSize: 64, doubleQuant: true });
        for (const t of nf4ToBnbTensors(key, q, "float32")) {
          const theirs = bnb.info(t.name);
          // The state's length can differ by a digit: the offset (a float32 mean) may differ in its last bit.
          const shape = t.name.endsWith(BNB_STATE_SUFFIX) ? [] : t.shape;
          expect({ name: t.name, dtype: t.dtype, shape }).toEqual({
            name: t.name,
            dtype: theirs.dtype,
            shape: t.name.endsWith(BNB_STATE_SUFFIX) ? [] : theirs.shape,
          });
          const mine = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
          if (t.dtype === "U8" && !t.name.endsWith(BNB_STATE_SUFFIX)) {
            expect(Buffer.from(mine).equals(Buffer.from(await bnb.readRaw(t.name))), `${t.name} bytes`).toBe(
              true,
            );
          } else if (t.dtype === "F32") {
            const a = new Float32Array(mine.slice().buffer);
            const b = await bnb.readFloat32(t.name);
            a.forEach((v, i) => expect(relClose(v, b[i]), `${t.name}[${i}]: ${v} vs ${b[i]}`).toBe(true));
          } else {
            const ours = JSON.parse(new TextDecoder().decode(mine)) as Record<string, unknown>;
            const theirsState = JSON.parse(new TextDecoder().decode(await bnb.readRaw(t.name))) as Record<
              string,
              unknown
            >;
            expect(Object.keys(ours)).toEqual(Object.keys(theirsState));
            expect({ ...ours, nested_offset: 0 }).toEqual({ ...theirsState, nested_offset: 0 });
            expect(relClose(ours.nested_offset as number, theirsState.nested_offset as number)).toBe(true);
          }
        }
        const loaded = (await loadQuantizedLinear(bnb, key))!;
        const a = dequantizeNf4(loaded);
        const b = dequantizeNf4(q);
        a.forEach((v, i) =>
          expect(Math.abs(v - b[i]) <= 1e-6 * Math.max(Math.abs(b[i]), 1e-3), `${key}[${i}]`).toBe(true),
        );
      }
    } finally {
      await src.close();
      await bnb.close();
    }
  });
});

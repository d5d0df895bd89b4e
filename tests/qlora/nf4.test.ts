import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  NF4_CODEBOOK,
  dequantizeNf4,
  dynamicMap8bit,
  nf4BitsPerParameter,
  quantizeNf4,
} from "../../trainer/qlora/index.js";

interface Case {
  shape: number[];
  input: number[];
  packed_hex: string;
  absmax: number[];
  dequantized: number[];
  double_quant: {
    offset: number;
    quantized_absmax_hex: string;
    nested_absmax: number[];
    absmax: number[];
    dequantized: number[];
  };
}
const ref = JSON.parse(readFileSync("tests/fixtures/nf4/reference.json", "utf8")) as {
  codebook_nf4: number[];
  dynamic_map_8bit: number[];
  cases: Record<string, Case>;
};

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-30);

describe("NF4 against bitsandbytes reference vectors", () => {
  it("uses bitsandbytes' codebook and 8-bit dynamic map", () => {
    expect(Array.from(NF4_CODEBOOK)).toEqual(ref.codebook_nf4.map(Math.fround));
    const dyn = dynamicMap8bit();
    expect(dyn.length).toBe(256);
    ref.dynamic_map_8bit.forEach((v, i) =>
      expect(relClose(dyn[i], v, 1e-6), `dynamic map [${i}]`).toBe(true),
    );
  });

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`${name}: packed codes and absmax exact, dequantized to float32 precision`, () => {
      const q = quantizeNf4(Float32Array.from(c.input), c.shape, { blockSize: 64 });
      expect(Buffer.from(q.packed).toString("hex")).toBe(c.packed_hex);
      expect(Array.from(q.absmax)).toEqual(c.absmax.map(Math.fround));
      expect(Array.from(dequantizeNf4(q))).toEqual(c.dequantized.map(Math.fround));
    });

    it(`${name}: double quantization within 1e-6 relative`, () => {
      const q = quantizeNf4(Float32Array.from(c.input), c.shape, { blockSize: 64, doubleQuant: true });
      const dq = q.doubleQuant!;
      expect(Buffer.from(dq.code).toString("hex")).toBe(c.double_quant.quantized_absmax_hex);
      expect(relClose(dq.offset, c.double_quant.offset, 1e-6)).toBe(true);
      dq.absmax2.forEach((v, i) => expect(relClose(v, c.double_quant.nested_absmax[i], 1e-6)).toBe(true));
      q.absmax.forEach((v, i) =>
        expect(relClose(v, c.double_quant.absmax[i], 1e-6), `absmax[${i}]`).toBe(true),
      );
      const deq = dequantizeNf4(q);
      deq.forEach((v, i) =>
        expect(
          Math.abs(v - c.double_quant.dequantized[i]) <=
            1e-6 * Math.max(Math.abs(c.double_quant.dequantized[i]), 1e-3),
        ).toBe(true),
      );
    });
  }
});

describe("NF4 properties", () => {
  it("round-trip error never exceeds half the widest codebook gap times the block absmax", () => {
    let widest = 0;
    for (let i = 1; i < 16; i++) widest = Math.max(widest, NF4_CODEBOOK[i] - NF4_CODEBOOK[i - 1]);
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (const blockSize of [32, 64, 128, 4096]) {
      for (let trial = 0; trial < 20; trial++) {
        const n = 1 + Math.floor(((rand() + 1) / 2) * 3000);
        const scale = 10 ** (rand() * 3);
        const x = Float32Array.from({ length: n }, () => rand() * rand() * scale);
        const q = quantizeNf4(x, [n], { blockSize });
        const y = dequantizeNf4(q);
        for (let i = 0; i < n; i++) {
          const bound = (widest / 2) * q.absmax[Math.floor(i / blockSize)] * (1 + 1e-6);
          if (Math.abs(y[i] - x[i]) > bound)
            throw new Error(`element ${i} of ${n} (block ${blockSize}): |${y[i]} - ${x[i]}| > ${bound}`);
        }
      }
    }
  });

  it("refuses block sizes outside 32..4096 or not a power of two", () => {
    expect(() => quantizeNf4(new Float32Array(64), [64], { blockSize: 48 })).toThrow(/power of two/);
    expect(() => quantizeNf4(new Float32Array(64), [64], { blockSize: 16 })).toThrow(/blockSize/);
  });

  it("reports 4.127 bits per parameter with double quantization and blocks of 64", () => {
    expect(nf4BitsPerParameter(64, true).toFixed(3)).toBe("4.127");
    expect(nf4BitsPerParameter(64, false)).toBe(4.5);
  });
});

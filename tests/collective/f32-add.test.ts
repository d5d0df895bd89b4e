// The reduce step's add: the WebAssembly SIMD kernel gives the scalar float32 loop's bits, for every
// length (the 64-byte unrolled part, the 4-byte tail) and for awkward values.
import { describe, expect, test } from "vitest";
import { addInto, f32AddModuleBytes, stagedAdder } from "../../trainer/collective/f32-add.js";
import { inputs } from "./inputs.js";

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe("float32 add kernel", () => {
  test("this Node runs the WebAssembly SIMD kernel", () => {
    expect(stagedAdder(1024).kind).toBe("wasm-simd");
    // A module that validates is a module the engine understood, SIMD opcodes included.
    // This project's TypeScript libs do not declare WebAssembly; Node has it.
    const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wasm.validate(f32AddModuleBytes(1))).toBe(true);
  });

  test.each([1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 1000, 4099])(
    "same bits as the scalar loop, %i elements",
    (n) => {
      for (const kind of ["wasm", "scalar"] as const) {
        const adder = stagedAdder(32 * 1024, kind === "wasm");
        const acc = inputs(5, 0, n);
        const inc = inputs(5, 1, n);
        // Awkward values: signed zeros, subnormals, overflow to infinity, NaN, cancellation.
        const special = [0, -0, 2 ** -149, -(2 ** -140), 3.4e38, Infinity, -Infinity, 1, -1];
        for (let i = 0; i < Math.min(n, special.length); i++) {
          acc[i] = special[i];
          inc[i] = special[special.length - 1 - i];
        }
        const want = acc.slice();
        addInto(want, inc);
        new Float32Array(adder.stage.buffer, adder.stage.byteOffset, n).set(inc);
        adder.addFromStage(acc);
        const isNaN = (i: number): boolean => Number.isNaN(want[i]) && Number.isNaN(acc[i]);
        const a = bits(acc);
        const w = bits(want);
        for (let i = 0; i < n; i++) if (!isNaN(i)) expect(a[i], `${kind}, element ${i}`).toBe(w[i]);
      }
    },
  );

  test("an accumulator at any float32 offset of any buffer", () => {
    const adder = stagedAdder(1024);
    const big = inputs(9, 0, 300);
    const acc = big.subarray(3, 3 + 101); // [101], byteOffset 12: not 16-byte aligned
    const inc = inputs(9, 1, 101);
    const want = acc.slice();
    addInto(want, inc);
    new Float32Array(adder.stage.buffer, adder.stage.byteOffset, 101).set(inc);
    const before = big.slice();
    adder.addFromStage(acc);
    expect(bits(acc)).toEqual(bits(want));
    expect(bits(big.subarray(0, 3))).toEqual(bits(before.subarray(0, 3)));
    expect(bits(big.subarray(104))).toEqual(bits(before.subarray(104)));
  });
});

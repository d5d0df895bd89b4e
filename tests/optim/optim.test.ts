import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { learningRate } from "../../trainer/optim/index.js";
import { adamwStep, clipByGlobalNorm, newAdamWState, allFinite } from "../../trainer/optim/index.js";
import { maskedBce, maskedCrossEntropy } from "../../trainer/train/losses.js";
import { FlatParams } from "../../trainer/train/params.js";
import { deriveSeed, uniform } from "../../trainer/train/rng.js";

describe("learning-rate schedules", () => {
  const base = { peak: 1, warmupSteps: 4, totalSteps: 14 };
  it("warms up linearly then follows the schedule to zero", () => {
    expect([0, 1, 2, 3].map((s) => learningRate(s, { ...base, kind: "cosine" }))).toEqual([
      0.25, 0.5, 0.75, 1,
    ]);
    expect(learningRate(4, { ...base, kind: "cosine" })).toBe(1);
    expect(learningRate(9, { ...base, kind: "cosine" })).toBeCloseTo(0.5, 12);
    expect(learningRate(14, { ...base, kind: "cosine" })).toBeCloseTo(0, 12);
    expect(learningRate(9, { ...base, kind: "linear" })).toBeCloseTo(0.5, 12);
    expect(learningRate(13, { ...base, kind: "constant" })).toBe(1);
  });
});

describe("AdamW", () => {
  it("matches the closed form of its first steps, with decoupled weight decay", () => {
    const o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
    const p = new Float32Array([1, -2]);
    const s = newAdamWState(2);
    adamwStep(p, new Float32Array([0.5, -3]), s, 0.01, o);
    // Step 1: m̂ = g, v̂ = g², so the Adam part is lr·g/(|g|+eps) = ±lr; decay is lr·wd·p.
    expect(p[0]).toBeCloseTo(1 - 0.01 * 0.1 * 1 - 0.01, 6);
    expect(p[1]).toBeCloseTo(-2 - 0.01 * 0.1 * -2 + 0.01, 6);
    // Step 2 with the same gradient: still ±lr per step from the Adam part.
    const before = p[0];
    adamwStep(p, new Float32Array([0.5, -3]), s, 0.01, o);
    expect(p[0]).toBeCloseTo(before - 0.01 * 0.1 * before - 0.01, 6);
    expect(s.t).toBe(2);
  });

  it("skips decay where the mask says so", () => {
    const p = new Float32Array([1, 1]);
    adamwStep(
      p,
      new Float32Array([0, 0]),
      newAdamWState(2),
      0.1,
      { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 },
      new Uint8Array([1, 0]),
    );
    expect(Array.from(p)).toEqual([Math.fround(0.95), 1]);
  });

  it("clips by global norm and detects non-finite values", () => {
    const g = new Float32Array([3, 4]);
    expect(clipByGlobalNorm(g, 1)).toBe(5);
    expect(Math.hypot(g[0], g[1])).toBeCloseTo(1, 5);
    expect(allFinite(new Float32Array([1, NaN]))).toBe(false);
    expect(allFinite(new Float32Array([1, 2]))).toBe(true);
  });
});

describe("losses", () => {
  it("masked cross-entropy equals the hand computation and ignores masked positions", () => {
    const logits = tf.tensor3d([
      [
        [0, Math.log(3)],
        [5, 5],
      ],
    ]); // [1, 2, 2]
    const targets = tf.tensor2d([[1, 0]], undefined, "int32");
    const loss = maskedCrossEntropy(logits, targets, tf.tensor2d([[1, 0]]));
    expect(loss.dataSync()[0]).toBeCloseTo(-Math.log(3 / 4), 5);
  });

  it("masked BCE equals the textbook formula", () => {
    const x = 0.7;
    const loss = maskedBce(tf.tensor2d([[x, 100]]), tf.tensor2d([[1, 0]]), tf.tensor2d([[1, 0]]));
    expect(loss.dataSync()[0]).toBeCloseTo(-Math.log(1 / (1 + Math.exp(-x))), 5);
  });
});

describe("flat parameters", () => {
  it("round-trips values and flattens gradients in slot order", () => {
    const a = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      true,
      "flat_a",
    );
    const b = tf.variable(tf.tensor1d([5]), true, "flat_b");
    const fp = new FlatParams([a, b]);
    expect(Array.from(fp.read())).toEqual([1, 2, 3, 4, 5]);
    const sum1 = fp.checksum();
    fp.write(new Float32Array([9, 8, 7, 6, 5]));
    expect(Array.from(a.dataSync())).toEqual([9, 8, 7, 6]);
    expect(fp.checksum()).not.toBe(sum1);
    expect(Array.from(fp.flattenGrads({ flat_b: tf.tensor1d([2]) }))).toEqual([0, 0, 0, 0, 2]);
  });
});

describe("counter-based rng", () => {
  it("is a pure function of its inputs, spread over [0, 1)", () => {
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
    expect(deriveSeed(1, 2, 3)).not.toBe(deriveSeed(1, 2, 4));
    let mean = 0;
    for (let i = 0; i < 4000; i++) mean += uniform(7, i) / 4000;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LoraLinear, loadAdapter, peftKey, saveAdapter } from "../../trainer/qlora/index.js";

const IN = 16;
const OUT = 12;
const weight = Float32Array.from({ length: IN * OUT }, (_, i) => Math.sin(i * 0.37) * 0.2);

function layer(lora = true): LoraLinear {
  return new LoraLinear({
    name: "model.layers.0.self_attn.q_proj",
    inFeatures: IN,
    outFeatures: OUT,
    weight,
    bias: Float32Array.from({ length: OUT }, (_, i) => i * 0.01),
    quantize: { blockSize: 64, doubleQuant: true },
    lora: lora ? { r: 4, alpha: 8, dropout: 0, rslora: false } : null,
    seed: 3,
  });
}

for (const backend of ["cpu", "wasm"]) {
  describe(`LoRA linear on the ${backend} backend`, () => {
    it("a fresh adapter leaves the output unchanged (B = 0); A is kaiming-uniform bounded by 1/sqrt(in)", async () => {
      await tf.setBackend(backend);
      const l = layer();
      const plain = layer(false);
      const x = tf.randomNormal([2, 3, IN], 0, 1, "float32", 1);
      expect(Array.from(l.apply(x, { training: false }).dataSync())).toEqual(
        Array.from(plain.apply(x, { training: false }).dataSync()),
      );
      const a = l.loraA!.dataSync();
      expect(Math.max(...Array.from(a, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(IN));
      expect(l.scale).toBe(2);
    });

    it("gradients match finite differences and reach only A and B; the NF4 weight is untouched by training", async () => {
      await tf.setBackend(backend);
      const l = layer();
      l.loraB!.assign(tf.randomNormal([OUT, 4], 0, 0.1, "float32", 9));
      const x = tf.randomNormal([5, IN], 0, 1, "float32", 2);
      const target = tf.randomNormal([5, OUT], 0, 1, "float32", 4);
      const lossFn = () => tf.mean(tf.square(tf.sub(l.apply(x, { training: true }), target))) as tf.Scalar;
      const { grads } = tf.variableGrads(lossFn);
      expect(Object.keys(grads).sort()).toEqual([l.loraA!.name, l.loraB!.name].sort());
      // Central differences in float64 on a few entries of A.
      const gA = grads[l.loraA!.name].dataSync();
      const a0 = l.loraA!.dataSync().slice();
      for (const idx of [0, 7, 33, 63]) {
        const eps = 1e-2;
        const plus = a0.slice();
        plus[idx] += eps;
        l.loraA!.assign(tf.tensor2d(plus, [4, IN]));
        const lp = lossFn().dataSync()[0];
        const minus = a0.slice();
        minus[idx] -= eps;
        l.loraA!.assign(tf.tensor2d(minus, [4, IN]));
        const lm = lossFn().dataSync()[0];
        l.loraA!.assign(tf.tensor2d(a0, [4, IN]));
        expect(gA[idx]).toBeCloseTo((lp - lm) / (2 * eps), 3);
      }
      const before = l.baseWeight();
      const packedBefore = l.quantized!.packed.slice();
      const opt = tf.train.adam(0.05);
      for (let i = 0; i < 5; i++) opt.minimize(lossFn, false, l.trainableVariables());
      expect(Array.from(l.baseWeight())).toEqual(Array.from(before));
      expect(Array.from(l.quantized!.packed)).toEqual(Array.from(packedBefore));
      expect(Array.from(l.loraA!.dataSync())).not.toEqual(Array.from(a0));
    });

    it("dropout is deterministic given its seed", async () => {
      await tf.setBackend(backend);
      const l = new LoraLinear({
        name: "p",
        inFeatures: IN,
        outFeatures: OUT,
        weight,
        lora: { r: 2, alpha: 2, dropout: 0.5, rslora: true },
        seed: 1,
      });
      l.loraB!.assign(tf.ones([OUT, 2]));
      const x = tf.ones([4, IN]);
      const a = l.apply(x, { training: true, dropoutSeed: 77 }).dataSync();
      const b = l.apply(x, { training: true, dropoutSeed: 77 }).dataSync();
      const c = l.apply(x, { training: true, dropoutSeed: 78 }).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(Array.from(a)).not.toEqual(Array.from(c));
      expect(l.scale).toBe(2 / Math.sqrt(2));
    });
  });
}

describe("merge and PEFT adapter files", () => {
  it("merged() equals W + s·B·A and the adapter saves with PEFT key names", async () => {
    await tf.setBackend("cpu");
    const l = layer();
    l.loraB!.assign(tf.randomNormal([OUT, 4], 0, 0.1, "float32", 5));
    const x = tf.randomNormal([3, IN], 0, 1, "float32", 6);
    const merged = l.merged();
    const viaMerged = tf.add(
      tf.matMul(x, tf.tensor2d(merged, [OUT, IN]), false, true),
      tf.tensor1d(Float32Array.from({ length: OUT }, (_, i) => i * 0.01)),
    );
    const direct = l.apply(x, { training: false });
    expect(tf.sub(viaMerged, direct).abs().max().dataSync()[0]).toBeLessThan(1e-5);
    const dir = await mkdtemp(join(tmpdir(), "radfleet-peft-"));
    await saveAdapter(
      dir,
      {
        r: 4,
        loraAlpha: 8,
        loraDropout: 0,
        targetModules: ["q_proj"],
        useRslora: false,
        modulesToSave: [],
        baseModelNameOrPath: "tiny",
        taskType: "CAUSAL_LM",
        bias: "none",
      },
      [
        { name: peftKey(l.name, "lora_A"), shape: [4, IN], data: l.loraA!.dataSync() as Float32Array },
        { name: peftKey(l.name, "lora_B"), shape: [OUT, 4], data: l.loraB!.dataSync() as Float32Array },
      ],
    );
    const back = await loadAdapter(dir);
    expect([...back.tensors.keys()].sort()).toEqual([
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
    ]);
    expect(back.config).toMatchObject({ r: 4, loraAlpha: 8, targetModules: ["q_proj"] });
  });
});

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { MODEL_BACKENDS } from "../helpers/backends.js";
import { LoraLinear, loadAdapter, peftKey, quantizeNf4, saveAdapter } from "../../trainer/qlora/index.js";

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

for (const backend of MODEL_BACKENDS) {
  describe(`LoRA linear on the ${backend} backend`, () => {
    beforeEach(async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      expect(tf.getBackend()).toBe(backend);
    });

    it("a fresh adapter leaves the output unchanged (B = 0); A is kaiming-uniform bounded by 1/sqrt(in)", async () => {
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
      const varsBefore = new Set(Object.keys(tf.engine().registeredVariables));
      const l = layer();
      l.loraB!.assign(tf.randomNormal([OUT, 4], 0, 0.1, "float32", 9));
      const x = tf.randomNormal([5, IN], 0, 1, "float32", 2);
      const target = tf.randomNormal([5, OUT], 0, 1, "float32", 4);
      const lossFn = () => tf.mean(tf.square(tf.sub(l.apply(x, { training: true }), target))) as tf.Scalar;
      const { grads } = tf.variableGrads(lossFn);
      expect(Object.keys(grads).sort()).toEqual([l.loraA!.name, l.loraB!.name].sort());
      // Central differences in float64 on a few entries of A.
      const a0 = l.loraA!.dataSync().slice();
      // Central differences on a few entries of A and of B.
      for (const [v, shape] of [
        [l.loraA!, [4, IN]],
        [l.loraB!, [OUT, 4]],
      ] as const) {
        const g = grads[v.name].dataSync();
        const v0 = v.dataSync().slice();
        for (const idx of [0, 7, 33, 47]) {
          const eps = 1e-2;
          const plus = v0.slice();
          plus[idx] += eps;
          v.assign(tf.tensor2d(plus, shape as [number, number]));
          const lp = lossFn().dataSync()[0];
          const minus = v0.slice();
          minus[idx] -= eps;
          v.assign(tf.tensor2d(minus, shape as [number, number]));
          const lm = lossFn().dataSync()[0];
          v.assign(tf.tensor2d(v0, shape as [number, number]));
          const fd = (lp - lm) / (2 * eps);
          expect(Math.abs(g[idx] - fd), `${v.name}[${idx}]: ${g[idx]} vs ${fd}`).toBeLessThan(
            1e-3 * Math.max(1, Math.abs(fd)),
          );
        }
      }
      // The base weight is no variable at all: the layer registered only A and B.
      const mine = Object.keys(tf.engine().registeredVariables).filter((n) => !varsBefore.has(n));
      expect(mine.sort()).toEqual([l.loraA!.name, l.loraB!.name].sort());
      const before = l.merged(); // B is random, so compare the base through baseWeight() too
      const baseBefore = l.baseWeight();
      const packedBefore = l.quantized!.packed.slice();
      const absmaxBefore = l.quantized!.absmax.slice();
      const opt = tf.train.adam(0.05);
      for (let i = 0; i < 5; i++) opt.minimize(lossFn, false, l.trainableVariables());
      expect(Array.from(l.baseWeight())).toEqual(Array.from(baseBefore));
      expect(Array.from(l.quantized!.packed)).toEqual(Array.from(packedBefore));
      expect(Array.from(l.quantized!.absmax)).toEqual(Array.from(absmaxBefore));
      // merged() moved only by s·ΔB·ΔA: with the adapter removed it is the same base again.
      expect(Array.from(l.merged())).not.toEqual(Array.from(before));
      l.loraB!.assign(tf.zeros([OUT, 4]));
      expect(Array.from(l.merged())).toEqual(Array.from(baseBefore));
      expect(Array.from(l.loraA!.dataSync())).not.toEqual(Array.from(a0));
    });

    it("the input's gradient (through the frozen weight) matches plain autograd and finite differences", async () => {
      const l = layer();
      l.loraB!.assign(tf.randomNormal([OUT, 4], 0, 0.1, "float32", 12));
      const x = tf.randomNormal([3, IN], 0, 1, "float32", 13);
      const target = tf.randomNormal([3, OUT], 0, 1, "float32", 14);
      const loss = (xx: tf.Tensor) => tf.sum(tf.mul(l.apply(xx, { training: true }), target));
      const dx = tf.grad(loss)(x).dataSync();
      // Reference: the same function written with tf's own matMul gradient on the merged weight.
      const wm = tf.tensor2d(l.merged(), [OUT, IN]);
      const bias = tf.tensor1d(Float32Array.from({ length: OUT }, (_, i) => i * 0.01));
      const ref = tf
        .grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(xx, wm, false, true), bias), target)))(x)
        .dataSync();
      for (let i = 0; i < dx.length; i++) expect(Math.abs(dx[i] - ref[i])).toBeLessThan(1e-4);
      const x0 = x.dataSync().slice();
      for (const idx of [0, 17, 40]) {
        const eps = 1e-2;
        const p = x0.slice();
        p[idx] += eps;
        const m = x0.slice();
        m[idx] -= eps;
        const fd =
          (loss(tf.tensor2d(p, [3, IN])).dataSync()[0] - loss(tf.tensor2d(m, [3, IN])).dataSync()[0]) /
          (2 * eps);
        expect(Math.abs(dx[idx] - fd)).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
      }
      l.dispose();
    });

    it("dequantizing per call gives the same outputs and gradients as the cached weight", async () => {
      const mk = (perCall: boolean) =>
        new LoraLinear({
          name: `perCall${perCall}`,
          inFeatures: IN,
          outFeatures: OUT,
          weight: quantizeNf4(weight, [OUT, IN], { blockSize: 32, doubleQuant: true }),
          lora: { r: 4, alpha: 4, dropout: 0, rslora: false },
          seed: 5,
          dequantizePerCall: perCall,
        });
      const a = mk(false);
      const b = mk(true);
      b.loraB!.assign(tf.randomNormal([OUT, 4], 0, 0.1, "float32", 3));
      a.loraB!.assign(b.loraB!);
      const x = tf.randomNormal([3, IN], 0, 1, "float32", 8);
      const before = tf.memory().numTensors;
      const ga = tf.variableGrads(
        () => tf.sum(a.apply(x, { training: true })) as tf.Scalar,
        a.trainableVariables(),
      );
      const gb = tf.variableGrads(
        () => tf.sum(b.apply(x, { training: true })) as tf.Scalar,
        b.trainableVariables(),
      );
      expect(Array.from(gb.value.dataSync())).toEqual(Array.from(ga.value.dataSync()));
      expect(Array.from(gb.grads[b.loraA!.name].dataSync())).toEqual(
        Array.from(ga.grads[a.loraA!.name].dataSync()),
      );
      tf.dispose([ga.value, gb.value, ...Object.values(ga.grads), ...Object.values(gb.grads)]);
      // The per-call copy does not leak; the cached layer holds exactly one weight tensor.
      b.apply(x, { training: false }).dispose();
      expect(tf.memory().numTensors).toBe(before + 1);
      a.dispose();
      b.dispose();
    });

    it("per call, no float copy of the weight is held between forward and backward; dx still matches", async () => {
      const q = quantizeNf4(weight, [OUT, IN], { blockSize: 32, doubleQuant: true });
      const mk = (perCall: boolean) =>
        new LoraLinear({
          name: `held${perCall}`,
          inFeatures: IN,
          outFeatures: OUT,
          weight: q,
          lora: { r: 4, alpha: 4, dropout: 0, rslora: false },
          seed: 5,
          dequantizePerCall: perCall,
        });
      const x = tf.randomNormal([3, IN], 0, 1, "float32", 8);
      const run = (l: LoraLinear) => {
        l.apply(x, { training: false }).dispose(); // the cached layer builds its cache here
        let heldBytes = 0;
        const dx = tf.grad((xi: tf.Tensor) => {
          const before = tf.memory().numBytes;
          const y = l.apply(xi, { training: true });
          // What the tape keeps for the backward, minus the output itself.
          heldBytes = tf.memory().numBytes - before - y.size * 4;
          return tf.sum(y);
        })(x);
        return { heldBytes, dx: Array.from(dx.dataSync()) };
      };
      const cached = mk(false);
      const perCall = mk(true);
      const a = run(cached);
      const b = run(perCall);
      expect(b.dx).toEqual(a.dx);
      // The cached layer's tape keeps the weight for the backward (tf.js saves a clone); the per-call
      // layer's keeps nothing of it: at least IN·OUT·4 bytes less, the rest being the same intermediates.
      expect(b.heldBytes + IN * OUT * 4).toBeLessThanOrEqual(a.heldBytes);
      cached.dispose();
      perCall.dispose();
    });

    it("dropout is deterministic given its seed", async () => {
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

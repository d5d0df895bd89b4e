import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { describe, expect, it } from "vitest";
import { MODEL_BACKENDS } from "../helpers/backends.js";
import {
  LlavaNetwork,
  buildModel,
  buildPrompt,
  countParameters,
  randomWeights,
  tinyConfig,
  type VisionLanguageModel,
} from "../../trainer/model/index.js";
import { generateBeam } from "../../trainer/model/beam-search.js";
import { generateGreedy } from "../../trainer/model/generate.js";

const CORPUS = [
  "The heart size is normal.",
  "No pleural effusion or pneumothorax.",
  "Mild cardiomegaly with a small left effusion.",
];
const LORA = {
  r: 4,
  alpha: 8,
  dropout: 0.1,
  rslora: false,
  targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
};

async function tiny(seed = 1, imageSize = 32): Promise<VisionLanguageModel> {
  return buildModel({
    preset: "tiny",
    quantization: { type: "nf4", blockSize: 64, doubleQuant: true },
    lora: LORA,
    head: { pooling: "image_tokens" },
    seed,
    imageSize,
    corpus: CORPUS,
    path: undefined,
  });
}

function inputs(m: VisionLanguageModel, B = 2) {
  const prompt = buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens });
  const report = m.tokenizer.encode(CORPUS[2]);
  const ids = [...prompt, ...report, m.tokenizer.eosId];
  const pixels = tf.randomNormal([B, m.imageSize, m.imageSize, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  return { prompt, pixels, inputIds: tf.tensor2d(Array(B).fill(ids).flat(), [B, ids.length], "int32") };
}

for (const backend of MODEL_BACKENDS) {
  describe(`tiny model on ${backend}`, () => {
    it("forward shapes; a training step reaches only LoRA and head; frozen weights unchanged", async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const m = await tiny();
      const { pixels, inputIds } = inputs(m);
      const { logits, clsLogits } = m.forward({ pixels, inputIds }, { training: false });
      expect(logits.shape).toEqual([2, inputIds.shape[1], m.tokenizer.vocabSize]);
      expect(clsLogits.shape).toEqual([2, 14]);
      const vars = m.trainableVariables();
      expect(vars.every((v) => /lora_[AB]|classifier/.test(v.name))).toBe(true);
      const layers = m.network.loraLayers();
      expect(vars).toHaveLength(2 * layers.length + 2);
      const before = layers.map((l) => l.baseWeight());
      const packed = layers.map((l) => l.quantized!.packed.slice());
      const opt = tf.train.adam(0.01);
      // One optimizer step over the multitask objective, with dropout.
      opt.minimize(
        () => {
          const out = m.forward({ pixels, inputIds }, { training: true, dropoutSeed: 1 });
          return tf.add(tf.mean(out.logits), tf.mean(out.clsLogits)) as tf.Scalar;
        },
        false,
        vars,
      );
      const { grads } = tf.variableGrads(() => {
        const out = m.forward({ pixels, inputIds }, { training: true, dropoutSeed: 3 });
        return tf.add(tf.mean(out.logits), tf.mean(out.clsLogits)) as tf.Scalar;
      }, vars);
      expect(Object.keys(grads).length).toBe(vars.length);
      // After one step B is non-zero, so every adapter matrix and the head get a gradient.
      for (const v of vars) expect(tf.max(tf.abs(grads[v.name])).dataSync()[0]).toBeGreaterThan(0);
      layers.forEach((l, i) => {
        expect(Array.from(l.baseWeight())).toEqual(Array.from(before[i]));
        expect(Array.from(l.quantized!.packed)).toEqual(Array.from(packed[i]));
      });
      // Dropout masks come from the seed alone: replicas with the same seed compute the same bits.
      const run = (seed: number) =>
        m.forward({ pixels, inputIds }, { training: true, dropoutSeed: seed }).logits.dataSync();
      expect(Array.from(run(5))).toEqual(Array.from(run(5)));
      expect(Array.from(run(5))).not.toEqual(Array.from(run(6)));
      m.dispose();
    });
  });
}

describe("generation", () => {
  it("KV-cache generation equals uncached; beam width 1 equals greedy; beams are deterministic", async () => {
    expect(await tf.setBackend("wasm")).toBe(true);
    const m = await tiny(2);
    // Make B non-zero so the adapters matter.
    for (const l of m.network.loraLayers())
      l.loraB!.assign(tf.randomNormal(l.loraB!.shape, 0, 0.2, "float32", 11));
    const { prompt, pixels } = inputs(m);
    const o = { maxNewTokens: 8, stopTokenIds: [m.tokenizer.eosId] };
    const cached = generateGreedy(m.network, pixels, [prompt, prompt], { ...o, useCache: true });
    const uncached = generateGreedy(m.network, pixels, [prompt, prompt], { ...o, useCache: false });
    expect(cached).toEqual(uncached);
    expect(cached[0].length).toBeGreaterThan(0);
    expect(await m.generate(pixels, [prompt, prompt], { ...o, numBeams: 1 })).toEqual(cached);
    // The beam algorithm itself, with one beam, keeps greedy's choices and stops where it stops.
    expect(generateBeam(m.network, pixels, [prompt, prompt], { ...o, numBeams: 1 })).toEqual(cached);
    const b3 = await m.generate(pixels, [prompt, prompt], { ...o, numBeams: 3 });
    const b3nc = await m.generate(pixels, [prompt, prompt], { ...o, numBeams: 3, useCache: false });
    expect(b3).toEqual(b3nc);
    m.dispose();
  });
});

describe("NF4 float-copy budget (quantization.cacheDequantizedMiB)", () => {
  it("layers past the budget dequantize per use and hold no float copy; a step's loss and gradients are unchanged", async () => {
    expect(await tf.setBackend("cpu")).toBe(true);
    const build = (cacheDequantizedMiB: number) =>
      buildModel({
        preset: "tiny",
        quantization: { type: "nf4", blockSize: 64, doubleQuant: true, cacheDequantizedMiB },
        lora: { ...LORA, dropout: 0 },
        head: { pooling: "image_tokens" },
        seed: 1,
        imageSize: 32,
        corpus: CORPUS,
        path: undefined,
      });
    const step = (m: VisionLanguageModel) => {
      const { pixels, inputIds } = inputs(m);
      const vars = m.trainableVariables();
      const before = tf.memory().numBytes;
      const r = tf.variableGrads(() => {
        const out = m.forward({ pixels, inputIds }, { training: true, dropoutSeed: 1 });
        return tf.add(tf.mean(out.logits), tf.mean(out.clsLogits)) as tf.Scalar;
      }, vars);
      const result = {
        loss: r.value.dataSync()[0],
        grads: vars.map((v) => Array.from(r.grads[v.name].dataSync())),
      };
      tf.dispose([r.value, ...Object.values(r.grads), pixels, inputIds]);
      return { ...result, grewBytes: tf.memory().numBytes - before };
    };
    const cached = await build(1024);
    const perUse = await build(0);
    const layers = cached.network.loraLayers();
    expect(layers.every((l) => !l.dequantizePerCall)).toBe(true);
    expect(perUse.network.loraLayers().every((l) => l.dequantizePerCall)).toBe(true);
    const floatBytes = layers.reduce((n, l) => n + l.inFeatures * l.outFeatures * 4, 0);

    const a = step(cached);
    const b = step(perUse);
    expect(b.loss).toBe(a.loss);
    expect(b.grads).toEqual(a.grads);
    // Both build the caches of their float (unquantized) layers; only the cached model also keeps
    // a float copy of every NF4 weight.
    expect(a.grewBytes - b.grewBytes).toBe(floatBytes);
  });
});

describe("image tokens", () => {
  it("a prompt row with too few or too many image tokens is refused, naming the row", async () => {
    expect(await tf.setBackend("cpu")).toBe(true);
    const m = await tiny();
    const pixels = tf.randomNormal([2, m.imageSize, m.imageSize, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const report = m.tokenizer.encode(CORPUS[0]);
    const row = (n: number) => [...buildPrompt(m.tokenizer, { numImageTokens: n }), ...report];
    const good = row(m.numImageTokens);
    for (const n of [m.numImageTokens - 1, m.numImageTokens + 1]) {
      const bad = row(n);
      const len = Math.max(good.length, bad.length);
      const padTo = (r: number[]) => [...r, ...Array(len - r.length).fill(m.tokenizer.eosId)];
      const inputIds = tf.tensor2d([...padTo(good), ...padTo(bad)], [2, len], "int32");
      expect(() => m.forward({ pixels, inputIds }, { training: false })).toThrow(
        new RegExp(`prompt row 1 holds ${n} image tokens .*the image gives ${m.numImageTokens} features`),
      );
    }
  });
});

describe("checkpoint loading", () => {
  it("names missing, unexpected and mis-shaped tensors", async () => {
    const cfg = tinyConfig(50, 32);
    const w = randomWeights(cfg, 1);
    w.delete("model.language_model.norm.weight");
    w.set("model.language_model.extra.weight", { shape: [2], data: new Float32Array(2) });
    w.set("model.multi_modal_projector.linear_2.bias", { shape: [7], data: new Float32Array(7) });
    const opts = {
      quantization: { type: "none" as const, blockSize: 64, doubleQuant: false, cacheDequantizedMiB: 1024 },
      lora: LORA,
      pooling: "vision" as const,
      seed: 1,
    };
    expect(() => new LlavaNetwork(cfg, w, opts)).toThrow(
      /missing: model\.language_model\.norm\.weight; unexpected: model\.language_model\.extra\.weight; wrong shape: model\.multi_modal_projector\.linear_2\.bias \(expected \[128\], got \[7\]\)/,
    );
  });
});

describe("small preset", () => {
  // Builds and steps a 21.6M-parameter model: about 50 s on a quiet 2-core machine, so the default 60 s
  // limit failed whenever other work shared the cores.
  it("builds from a seed at 128 px with the documented size, and trains a step", async () => {
    expect(await tf.setBackend(MODEL_BACKENDS.includes("tensorflow") ? "tensorflow" : "wasm")).toBe(true);
    const m = await buildModel({
      preset: "small",
      quantization: { type: "nf4", blockSize: 64, doubleQuant: true },
      lora: { ...LORA, r: 8, alpha: 16 },
      head: { pooling: "image_tokens" },
      seed: 1,
      corpus: [],
      path: undefined,
    });
    expect(m.imageSize).toBe(128);
    expect(m.numImageTokens).toBe(65); // (128 / 16)² patches + image_newline
    const V = m.tokenizer.vocabSize;
    // The documented count: 3,372,800 + 512 + 394,240 + (17,707,520 + 512·V) + 7,182.
    expect(countParameters(m.config).total).toBe(3_372_800 + 512 + 394_240 + 17_707_520 + 512 * V + 7_182);
    const { pixels, inputIds } = inputs(m, 1);
    const { logits } = m.forward({ pixels, inputIds }, { training: false });
    expect(logits.shape).toEqual([1, inputIds.shape[1], V]);
    const vars = m.trainableVariables();
    const { value } = tf.variableGrads(() => {
      const out = m.forward({ pixels, inputIds }, { training: true, dropoutSeed: 1 });
      return tf.add(tf.mean(out.logits), tf.mean(out.clsLogits)) as tf.Scalar;
    }, vars);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    m.dispose();
  }, 240_000);
});

describe("backends agree", () => {
  it("the same training step gives the same loss and gradients on every backend, within float32 tolerance", async () => {
    // Gradients in the model's variable order (tf.js suffixes names of a second model's variables).
    const results: Record<string, { loss: number; grads: Float32Array[] }> = {};
    for (const backend of MODEL_BACKENDS) {
      expect(await tf.setBackend(backend)).toBe(true);
      const m = await tiny(4);
      for (const l of m.network.loraLayers())
        l.loraB!.assign(tf.randomNormal(l.loraB!.shape, 0, 0.2, "float32", 11));
      const { pixels, inputIds } = inputs(m);
      const vars = m.trainableVariables();
      const { value, grads } = tf.variableGrads(() => {
        const out = m.forward({ pixels, inputIds }, { training: true, dropoutSeed: 7 });
        return tf.add(tf.mean(out.logits), tf.mean(out.clsLogits)) as tf.Scalar;
      }, vars);
      results[backend] = {
        loss: value.dataSync()[0],
        grads: vars.map((v) => grads[v.name].dataSync() as Float32Array),
      };
      m.dispose();
    }
    const [ref, ...others] = MODEL_BACKENDS;
    for (const b of others) {
      expect(results[b].loss).toBeCloseTo(results[ref].loss, 5);
      let worst = 0;
      expect(results[b].grads).toHaveLength(results[ref].grads.length);
      for (const [j, g] of results[ref].grads.entries()) {
        const h = results[b].grads[j];
        expect(h.length).toBe(g.length);
        const scale = Math.max(...g.map(Math.abs), 1e-6);
        for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - h[i]) / scale);
      }
      console.log(
        `gradients ${b} vs ${ref}: max difference ${worst.toExponential(2)} of each tensor's largest entry`,
      );
      expect(worst).toBeLessThan(1e-3);
    }
  });
});

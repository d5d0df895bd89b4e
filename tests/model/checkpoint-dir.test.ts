// Loading Hugging Face directories: errors name the offending tensors in both key layouts; adapters
// and base weights round-trip; the full-weights (trainBase) variant trains on wasm without gather gradients.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL_BACKENDS } from "../helpers/backends.js";
import {
  quantizeNf4,
  SafetensorsFile,
  writeSafetensors,
  type TensorData,
} from "../../trainer/qlora/index.js";
import {
  buildModel,
  buildPrompt,
  canonicalKey,
  readCheckpointDir,
  type ModelBuildOptions,
} from "../../trainer/model/index.js";
import { quantizeOnLoad } from "../../trainer/model/linear-policy.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/model/tiny-llava");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "radfleet-model-dir-"));
  await tf.setBackend("cpu");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = (path?: string): ModelBuildOptions => ({
  path,
  preset: "tiny",
  imageSize: 32,
  quantization: { type: "nf4", blockSize: 64, doubleQuant: true },
  lora: { r: 2, alpha: 4, dropout: 0, rslora: true, targetModules: ["q_proj", "v_proj", "down_proj"] },
  head: { pooling: "vision" },
  seed: 3,
});

/** The fixture's tensors (as stored: the older layout), edited, written to a new directory. */
async function variant(name: string, edit: (t: TensorData[]) => TensorData[]): Promise<string> {
  const f = await SafetensorsFile.open(join(FIXTURE, "model.safetensors"));
  const tensors: TensorData[] = [];
  for (const k of f.keys())
    tensors.push({ name: k, dtype: "F32", shape: f.info(k).shape, data: await f.readFloat32(k) });
  await f.close();
  const out = join(dir, name);
  await mkdir(out, { recursive: true });
  await writeSafetensors(join(out, "model.safetensors"), edit(tensors));
  await copyFile(join(FIXTURE, "config.json"), join(out, "config.json"));
  await copyFile(join(FIXTURE, "tokenizer.json"), join(out, "tokenizer.json"));
  return out;
}

describe("loading a Hugging Face directory", () => {
  it("names missing, unexpected and mis-shaped tensors in the older layout", async () => {
    const p = await variant("old-layout-bad", (ts) =>
      ts
        .filter((t) => t.name !== "language_model.model.layers.1.mlp.up_proj.weight")
        .map((t) =>
          t.name === "vision_tower.encoder.layers.0.mlp.fc1.bias"
            ? { ...t, shape: [63], data: new Float32Array(63) }
            : t,
        )
        .concat([
          {
            name: "language_model.model.layers.9.extra.weight",
            dtype: "F32",
            shape: [1],
            data: new Float32Array(1),
          },
        ]),
    );
    const err = await buildModel(spec(p)).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).toContain("missing: model.language_model.layers.1.mlp.up_proj.weight");
    expect(err).toContain(
      "unexpected: model.language_model.layers.9.extra.weight (stored as language_model.model.layers.9.extra.weight)",
    );
    expect(err).toContain(
      "wrong shape: model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias (stored as vision_tower.encoder.layers.0.mlp.fc1.bias) (expected [64], got [63])",
    );
  });

  it("names a mis-shaped tensor in the newer layout", async () => {
    const p = await variant("new-layout-bad", (ts) =>
      ts.map((t) => {
        const name = canonicalKey(t.name);
        return name === "lm_head.weight"
          ? { ...t, name, shape: [10, 64], data: new Float32Array(640) }
          : { ...t, name };
      }),
    );
    await expect(buildModel(spec(p))).rejects.toThrow(
      /wrong shape: lm_head\.weight \(expected \[160, 64\], got \[10, 64\]\)/,
    );
  });

  it("quantizes the targeted linears as it reads them: same NF4 bytes, no float copy kept", async () => {
    const s = spec(FIXTURE);
    const float = await readCheckpointDir(FIXTURE);
    const quantized = await readCheckpointDir(FIXTURE, {
      quantize: quantizeOnLoad({ quantization: s.quantization, lora: s.lora }),
    });
    const nf4 = [...quantized.weights].filter(([, w]) => w.nf4);
    // Exactly the targeted projections (the model applies LoRA to them in the tower too).
    const targeted = [...float.weights.keys()].filter((n) => /\.(q_proj|v_proj|down_proj)\.weight$/.test(n));
    expect(targeted.length).toBeGreaterThan(0);
    expect(nf4.map(([n]) => n).sort()).toEqual(targeted.sort());
    for (const [name, w] of nf4) {
      expect(w.data.length).toBe(0);
      const f = float.weights.get(name)!;
      const expected = quantizeNf4(f.data, f.shape, { blockSize: 64, doubleQuant: true });
      expect(Buffer.from(w.nf4!.packed).equals(Buffer.from(expected.packed))).toBe(true);
      expect(Array.from(w.nf4!.absmax)).toEqual(Array.from(expected.absmax));
    }
    expect(quantized.weights.size).toBe(float.weights.size);
  });

  it("refuses an index that names a shard outside the directory", async () => {
    const p = await variant("escaping-index", (ts) => ts);
    const names = (await SafetensorsFile.open(join(p, "model.safetensors"))).keys();
    await writeFile(
      join(p, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, "../model.safetensors"])) }),
    );
    await expect(buildModel(spec(p))).rejects.toThrow(
      /expected a \.safetensors file name in the same directory/,
    );
  });

  it("refuses a key that two layouts map to the same tensor", async () => {
    const p = await variant("both-layouts", (ts) => [
      ...ts,
      { ...ts.find((t) => t.name === "image_newline")!, name: "model.image_newline" },
    ]);
    await expect(buildModel(spec(p))).rejects.toThrow(
      /image_newline maps to model\.image_newline, which another key already provided/,
    );
  });
});

describe("adapters", () => {
  it("round-trip through a PEFT adapter directory; a wrong shape is named", async () => {
    const a = await buildModel(spec(FIXTURE));
    for (const v of a.trainableVariables()) v.assign(tf.randomNormal(v.shape, 0, 0.1, "float32", 9));
    const tensors = a.adapterTensors();
    expect(tensors.map((t) => t.name)).toContain(
      "base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.weight",
    );
    expect(tensors.map((t) => t.name)).toContain("base_model.model.classifier.weight");
    const b = await buildModel({ ...spec(FIXTURE), seed: 4 });
    const adapterDir = join(dir, "adapter");
    await a.saveAdapter(adapterDir);
    const cfg = JSON.parse(await readFile(join(adapterDir, "adapter_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(cfg).toMatchObject({
      peft_type: "LORA",
      r: 2,
      lora_alpha: 4,
      use_rslora: true,
      modules_to_save: ["classifier"],
    });
    await b.loadAdapter(adapterDir);
    const px = tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const ids = tf.tensor2d(
      [buildPrompt(a.tokenizer, { numImageTokens: a.numImageTokens, instruction: "w10 w11" })],
      undefined,
      "int32",
    );
    const ya = a.forward({ pixels: px, inputIds: ids }, { training: false });
    const yb = b.forward({ pixels: px, inputIds: ids }, { training: false });
    expect(Array.from(yb.logits.dataSync())).toEqual(Array.from(ya.logits.dataSync()));
    expect(Array.from(yb.clsLogits.dataSync())).toEqual(Array.from(ya.clsLogits.dataSync()));
    const bad = new Map(tensors.map((t) => [t.name, t]));
    const key = "base_model.model.model.language_model.layers.1.mlp.down_proj.lora_B.weight";
    bad.set(key, { name: key, shape: [3, 3], data: new Float32Array(9) });
    expect(() => b.loadAdapterTensors(bad)).toThrow(
      `adapter tensor ${key}: expected shape [64, 2], got [3, 3]`,
    );
    a.dispose();
    b.dispose();
  });
});

for (const backend of MODEL_BACKENDS) {
  describe(`trainBase on ${backend}`, () => {
    it("every weight trains (embeddings through a one-hot matmul), and saveBase keeps the result", async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const m = await buildModel({ ...spec(), trainBase: true, corpus: ["no acute findings ."] });
      const vars = m.trainableVariables();
      expect(vars.some((v) => v.name.startsWith("model.language_model.embed_tokens.weight"))).toBe(true);
      expect(m.network.loraLayers()).toHaveLength(0);
      const ids = tf.tensor2d(
        [
          [
            ...buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens }),
            ...m.tokenizer.encode("no acute findings ."),
          ],
        ],
        undefined,
        "int32",
      );
      const px = tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 2) as tf.Tensor4D;
      const { grads } = tf.variableGrads(() => {
        const out = m.forward({ pixels: px, inputIds: ids }, { training: true });
        return tf.add(tf.mean(tf.square(out.logits)), tf.mean(out.clsLogits)) as tf.Scalar;
      }, vars);
      const embedGrad = Object.entries(grads).find(([k]) =>
        k.startsWith("model.language_model.embed_tokens.weight"),
      )![1];
      expect(tf.max(tf.abs(embedGrad)).dataSync()[0]).toBeGreaterThan(0);
      expect(Object.keys(grads)).toHaveLength(vars.length);
      const out = join(dir, `base-${backend}`);
      await m.saveBase(out);
      const reloaded = await buildModel({
        ...spec(out),
        quantization: { type: "none", blockSize: 64, doubleQuant: false },
      });
      const y1 = m.forward({ pixels: px, inputIds: ids }, { training: false }).logits.dataSync();
      const y2 = reloaded.forward({ pixels: px, inputIds: ids }, { training: false }).logits.dataSync();
      expect(Math.max(...Array.from(y1, (v, i) => Math.abs(v - y2[i])))).toBeLessThan(1e-5);
      tf.dispose(Object.values(grads));
      m.dispose();
      reloaded.dispose();
    });
  });
}

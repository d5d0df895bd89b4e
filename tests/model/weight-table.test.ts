// The weight table is the one description of the architecture: it must name exactly the tensors a
// real transformers checkpoint holds, with their shapes, and the forward must read every entry it
// lists as used.
import * as tf from "@tensorflow/tfjs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SafetensorsFile } from "../../trainer/qlora/index.js";
import {
  buildModel,
  canonicalKey,
  llavaWeightTable,
  parseModelConfig,
  randomWeights,
  tinyConfig,
} from "../../trainer/model/index.js";

const fixture = (name: string) => join(import.meta.dirname, "../fixtures/model", name);

async function fixtureConfig(name: string) {
  const path = join(fixture(name), "config.json");
  return parseModelConfig(JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>, path);
}

async function fixtureShapes(name: string): Promise<Map<string, number[]>> {
  const f = await SafetensorsFile.open(join(fixture(name), "model.safetensors"));
  try {
    return new Map(f.keys().map((k) => [canonicalKey(k), f.info(k).shape]));
  } finally {
    await f.close();
  }
}

describe("the LLaVA weight table", () => {
  it.each(["tiny-llava", "tiny-llava-tied", "tiny-llava-anyres"])(
    "lists every tensor of transformers' %s checkpoint with its shape, and nothing else but the head",
    async (name) => {
      const table = llavaWeightTable(await fixtureConfig(name));
      const stored = await fixtureShapes(name);
      const listed = new Map(table.tensors.map((t) => [t.name, t.shape]));
      for (const [key, shape] of stored) expect(listed.get(key), key).toEqual(shape);
      const notStored = table.tensors.filter((t) => !stored.has(t.name)).map((t) => t.name);
      expect(notStored).toEqual(["classifier.weight", "classifier.bias"]); // radfleet's own head
    },
  );

  it("spells each name once and lists linear layers exactly where it lists their weights", () => {
    const table = llavaWeightTable(tinyConfig(50, 32));
    const names = table.tensors.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    const linearWeights = table.tensors.filter((t) => t.linear);
    expect(linearWeights).toEqual(table.linears.map((l) => l.weight));
    // tiny: 2 SigLIP layers × (q, k, v, out, fc1, fc2) + 2 projector + 2 Qwen2 layers × 7
    expect(table.linears).toHaveLength(2 * 6 + 2 + 2 * 7);
    for (const l of table.linears) {
      expect(l.path.endsWith(`.${l.module}`)).toBe(true);
      expect(l.weight.shape).toEqual([l.outFeatures, l.inFeatures]);
    }
  });

  it("derives grouped-query shapes and the tied head from the config", () => {
    const c = tinyConfig(50, 32); // 4 query heads, 2 key/value heads of 32, tied embeddings
    const layer = llavaWeightTable(c).language;
    expect(layer.layers[0].q.weight.shape).toEqual([128, 128]);
    expect(layer.layers[0].k.weight.shape).toEqual([64, 128]);
    expect(layer.layers[0].o.bias).toBeNull();
    expect(layer.lmHead).toBeNull();
    c.text_config.tie_word_embeddings = false;
    expect(llavaWeightTable(c).language.lmHead?.shape).toEqual([50, 128]);
  });

  it("initialises each tensor from its own name: the same tensor gets the same values in a deeper model", () => {
    const shallow = tinyConfig(50, 32);
    const deep = tinyConfig(50, 32);
    deep.text_config.num_hidden_layers = 3;
    deep.vision_config.num_hidden_layers = 3;
    const a = randomWeights(shallow, 9);
    const b = randomWeights(deep, 9);
    for (const name of [
      "model.language_model.layers.1.mlp.down_proj.weight",
      "model.language_model.norm.weight",
      "lm_head.weight" in a ? "lm_head.weight" : "model.language_model.embed_tokens.weight",
      "classifier.weight",
    ])
      expect(Array.from(b.get(name)!.data), name).toEqual(Array.from(a.get(name)!.data));
    expect(Array.from(a.get("model.language_model.norm.weight")!.data).every((x) => x === 1)).toBe(true);
    expect(Array.from(a.get("model.multi_modal_projector.linear_1.bias")!.data).every((x) => x === 0)).toBe(
      true,
    );
  });

  it("every entry not marked unused is read by the forward (each gets a gradient when the base trains)", async () => {
    await tf.setBackend("cpu");
    const m = await buildModel({
      path: fixture("tiny-llava"),
      quantization: { type: "none", blockSize: 64, doubleQuant: false },
      lora: { r: 1, alpha: 1, dropout: 0, rslora: false, targetModules: [] },
      head: { pooling: "image_tokens" },
      seed: 1,
      trainBase: true,
    });
    const table = m.network.table;
    // Only the tower's post_layernorm may be skipped: LLaVA reads the encoder's hidden states.
    expect(table.tensors.filter((t) => t.unused).map((t) => t.name)).toEqual([
      "model.vision_tower.vision_model.post_layernorm.weight",
      "model.vision_tower.vision_model.post_layernorm.bias",
    ]);
    const s = m.config.vision_config.image_size;
    const image = m.config.image_token_index;
    const text = (k: number) => (image + 1 + k) % m.config.text_config.vocab_size;
    const ids = [text(0), ...Array<number>(m.numImageTokens).fill(image), text(1), text(2)];
    const pixels = tf.randomNormal([1, s, s, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const inputIds = tf.tensor2d(ids, [1, ids.length], "int32");
    const { value, grads } = tf.variableGrads(() => {
      const out = m.forward({ pixels, inputIds }, { training: true });
      return tf.add(tf.sum(out.logits), tf.sum(out.clsLogits)) as tf.Scalar;
    }, m.trainableVariables());
    const reached = Object.keys(grads).map((n) => n.replace(/#\d+$/, ""));
    expect(reached.sort()).toEqual(
      table.tensors
        .filter((t) => !t.unused)
        .map((t) => t.name)
        .sort(),
    );
    tf.dispose([value, ...Object.values(grads), pixels, inputIds]);
    m.dispose();
  });
});

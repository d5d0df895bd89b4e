// Reference parity: radfleet's forward pass against Hugging Face transformers' on the same tiny
// random LLaVA-OneVision checkpoint (made by tests/reference/model/make_tiny_llava.py).
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MODEL_BACKENDS } from "../helpers/backends.js";
import { SafetensorsFile, writeSafetensors } from "../../trainer/qlora/index.js";
import { buildModel, readCheckpointDir, savedKey } from "../../trainer/model/index.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/model/tiny-llava");

async function expected(dir = FIXTURE) {
  const f = await SafetensorsFile.open(join(dir, "expected.safetensors"));
  try {
    const px = f.info("pixels_nhwc").shape;
    const ids = f.info("input_ids").shape;
    const lg = f.info("logits").shape;
    return {
      pixels: tf.tensor4d(await f.readFloat32("pixels_nhwc"), px as [number, number, number, number]),
      inputIds: tf.tensor2d(
        Int32Array.from(new Int32Array((await f.readRaw("input_ids")).slice().buffer)),
        ids as [number, number],
        "int32",
      ),
      logits: await f.readFloat32("logits"),
      logitsShape: lg,
    };
  } finally {
    await f.close();
  }
}

const spec = (path: string) => ({
  path,
  quantization: { type: "none" as const, blockSize: 64, doubleQuant: false },
  // Adapters on every linear layer start with B = 0, so they must leave the output unchanged.
  lora: {
    r: 4,
    alpha: 8,
    dropout: 0,
    rslora: false,
    targetModules: [
      "q_proj",
      "k_proj",
      "v_proj",
      "o_proj",
      "out_proj",
      "fc1",
      "fc2",
      "gate_proj",
      "up_proj",
      "down_proj",
      "linear_1",
      "linear_2",
    ],
  },
  head: { pooling: "image_tokens" as const },
  seed: 1,
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// tiny-llava: separate lm_head, last vision layer; tiny-llava-tied: tied embeddings, vision_feature_layer -2.
const FIXTURES = ["tiny-llava", "tiny-llava-tied"];
const fixtureDir = (name: string) => join(import.meta.dirname, "../fixtures/model", name);

for (const backend of MODEL_BACKENDS) {
  describe(`parity with transformers (${backend})`, () => {
    it.each(FIXTURES)("logits match within 1e-4: %s", async (name) => {
      const fixture = fixtureDir(name);
      expect(await tf.setBackend(backend)).toBe(true);
      const ref = await expected(fixture);
      const m = await buildModel(spec(fixture));
      expect(m.numImageTokens).toBe(16 + 4 * 5);
      const { logits } = m.forward({ pixels: ref.pixels, inputIds: ref.inputIds }, { training: false });
      expect(logits.shape).toEqual(ref.logitsShape);
      const diff = maxAbsDiff(logits.dataSync() as Float32Array, ref.logits);
      console.log(`parity ${backend} ${name}: max abs logit difference ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-4);
      tf.dispose([logits, ref.pixels, ref.inputIds]);
      m.dispose();
    });
  });
}

describe("generation parity with transformers", () => {
  it.each(FIXTURES)(
    "greedy and 3-beam decoding with a repetition penalty give transformers' tokens, with and without the cache: %s",
    async (name) => {
      const fixture = fixtureDir(name);
      expect(await tf.setBackend("wasm")).toBe(true);
      const ref = await expected(fixture);
      const want = JSON.parse(await readFile(join(fixture, "expected_greedy.json"), "utf8")) as {
        max_new_tokens: number;
        repetition_penalty: number;
        tokens: number[][];
        beam3_tokens: number[][];
      };
      const m = await buildModel(spec(fixture));
      const prompts = ref.inputIds.arraySync();
      for (const useCache of [true, false]) {
        const got = await m.generate(ref.pixels, prompts, {
          maxNewTokens: want.max_new_tokens,
          repetitionPenalty: want.repetition_penalty,
          useCache,
        });
        expect(got).toEqual(want.tokens);
        const beams = await m.generate(ref.pixels, prompts, {
          maxNewTokens: want.max_new_tokens,
          repetitionPenalty: want.repetition_penalty,
          numBeams: 3,
          useCache,
        });
        expect(beams).toEqual(want.beam3_tokens);
      }
      tf.dispose([ref.pixels, ref.inputIds]);
      m.dispose();
    },
  );
});

describe("a bitsandbytes NF4 checkpoint", () => {
  it("loads the quantized layers as they are stored and matches transformers on bitsandbytes' dequantized weights", async () => {
    expect(await tf.setBackend("wasm")).toBe(true);
    const dir = join(import.meta.dirname, "../fixtures/model/tiny-llava-nf4");
    const ref = await expected(dir);
    // Only names the language model alone uses, so radfleet quantizes nothing else (q/k/v_proj also
    // name the vision tower's layers); the stored NF4 layers load as NF4 whether targeted or not.
    const lora = { ...spec(dir).lora, targetModules: ["o_proj", "gate_proj", "up_proj", "down_proj"] };
    const m = await buildModel({
      ...spec(dir),
      lora,
      quantization: { type: "nf4", blockSize: 64, doubleQuant: true },
    });
    const q = m.network.loraLayers().find((l) => l.name === "model.language_model.layers.0.mlp.down_proj")!;
    const f = await SafetensorsFile.open(join(dir, "model.safetensors"));
    const stored = await f.readRaw("language_model.model.layers.0.mlp.down_proj.weight");
    await f.close();
    expect(Array.from(q.quantized!.packed)).toEqual(Array.from(stored));
    const { logits } = m.forward({ pixels: ref.pixels, inputIds: ref.inputIds }, { training: false });
    const diff = maxAbsDiff(logits.dataSync() as Float32Array, ref.logits);
    console.log(`parity nf4: max abs logit difference ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    tf.dispose([logits, ref.pixels, ref.inputIds]);
    m.dispose();
  });
});

describe("checkpoint key layouts", () => {
  it("loads the newer model.language_model.… layout as well, and saveBase round-trips", async () => {
    await tf.setBackend("cpu");
    const dir = await mkdtemp(join(tmpdir(), "radfleet-model-"));
    try {
      const { weights } = await readCheckpointDir(FIXTURE);
      // The newer layout: canonical names as transformers 4.5x keeps them in memory.
      await writeSafetensors(
        join(dir, "model.safetensors"),
        [...weights].map(([name, w]) => ({ name, dtype: "F32" as const, shape: w.shape, data: w.data })),
      );
      await copyFile(join(FIXTURE, "config.json"), join(dir, "config.json"));
      await copyFile(join(FIXTURE, "tokenizer.json"), join(dir, "tokenizer.json"));
      const ref = await expected();
      const m = await buildModel(spec(dir));
      const a = m.forward({ pixels: ref.pixels, inputIds: ref.inputIds }, { training: false }).logits;
      expect(maxAbsDiff(a.dataSync() as Float32Array, ref.logits)).toBeLessThan(1e-4);
      // saveBase writes transformers' saved layout; reading it back gives the same model.
      const saved = join(dir, "saved");
      await m.saveBase(saved);
      const f = await SafetensorsFile.open(join(saved, "model.safetensors"));
      expect(f.keys()).toContain(savedKey("model.language_model.norm.weight"));
      expect(f.keys()).toContain("language_model.model.norm.weight");
      await f.close();
      const m2 = await buildModel(spec(saved));
      const b = m2.forward({ pixels: ref.pixels, inputIds: ref.inputIds }, { training: false }).logits;
      expect(maxAbsDiff(b.dataSync() as Float32Array, ref.logits)).toBeLessThan(1e-4);
      tf.dispose([a, b, ref.pixels, ref.inputIds]);
      m.dispose();
      m2.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// anyres parity: radfleet's tiles, image-token counts and logits against transformers'
// LlavaOnevisionProcessor + LlavaOnevisionForConditionalGeneration on a tiny random checkpoint with
// image_grid_pinpoints and non-square images (made by tests/reference/model/make_tiny_llava_anyres.py).
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MODEL_BACKENDS } from "../helpers/backends.js";
import { SafetensorsFile } from "../../trainer/qlora/index.js";
import { PIXEL_MEAN, PIXEL_STD } from "../../trainer/data/index.js";
import {
  buildModel,
  buildPrompt,
  parseModelConfig,
  realConfig,
  tinyConfig,
} from "../../trainer/model/index.js";
import {
  anyresLayout,
  bicubicAaWeights,
  bilinearWeights,
  pyFloorDiv,
  selectBestResolution,
} from "../../trainer/model/anyres.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/model/tiny-llava-anyres");

interface Expected {
  pixel_mean: number;
  pixel_std: number;
  cases: Record<string, { image_size: [number, number]; tiles: number; num_image_tokens: number }>;
  token_counts: Record<string, Array<[number, number, number]>>;
}

async function loadCase(name: string) {
  const f = await SafetensorsFile.open(join(FIXTURE, "expected.safetensors"));
  try {
    const t4 = async (k: string) =>
      tf.tensor4d(await f.readFloat32(k), f.info(k).shape as [number, number, number, number]);
    const ids = f.info(`${name}.input_ids`).shape as [number, number];
    return {
      pixels: await t4(`${name}.pixels_nhwc`), // [1, H, W, 3]
      pixelValues: await t4(`${name}.pixel_values_nhwc`), // [1 + tiles, s, s, 3]
      inputIds: tf.tensor2d(
        Int32Array.from(new Int32Array((await f.readRaw(`${name}.input_ids`)).slice().buffer)),
        ids,
        "int32",
      ),
      logits: await f.readFloat32(`${name}.logits`),
      logitsShape: f.info(`${name}.logits`).shape,
    };
  } finally {
    await f.close();
  }
}

const spec = {
  path: FIXTURE,
  quantization: { type: "none" as const, blockSize: 64, doubleQuant: false },
  // Adapters everywhere start with B = 0: the output must not move.
  lora: {
    r: 2,
    alpha: 4,
    dropout: 0,
    rslora: false,
    targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "fc1", "fc2", "linear_1", "linear_2"],
  },
  head: { pooling: "image_tokens" as const },
  seed: 1,
};

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const expected = async () => JSON.parse(await readFile(join(FIXTURE, "expected.json"), "utf8")) as Expected;

describe("anyres fixture", () => {
  it("was normalised as radfleet's data pipeline normalises, so both pad with the same black", async () => {
    const e = await expected();
    expect([e.pixel_mean, e.pixel_std]).toEqual([PIXEL_MEAN, PIXEL_STD]);
  });
});

for (const backend of MODEL_BACKENDS) {
  describe(`anyres parity with transformers (${backend})`, () => {
    it.each(["wide", "tall"])(
      "%s image: tiles, image-token count and logits match within 1e-4",
      async (name) => {
        expect(await tf.setBackend(backend)).toBe(true);
        const want = (await expected()).cases[name];
        const ref = await loadCase(name);
        const [, H, W] = ref.pixels.shape;
        expect([H, W]).toEqual(want.image_size);
        const m = await buildModel({ ...spec, imageSize: H });
        const tiles = m.network.imageTiles(ref.pixels);
        expect(tiles.shape).toEqual([1, want.tiles, 16, 16, 3]);
        const tileDiff = maxAbsDiff(
          tiles.dataSync() as Float32Array,
          ref.pixelValues.dataSync() as Float32Array,
        );
        expect(m.network.numImageTokensFor(H, W)).toBe(want.num_image_tokens);
        const { logits } = m.forward({ pixels: ref.pixels, inputIds: ref.inputIds }, { training: false });
        expect(logits.shape).toEqual(ref.logitsShape);
        const diff = maxAbsDiff(logits.dataSync() as Float32Array, ref.logits);
        console.log(
          `anyres parity ${backend} ${name} ${H}x${W}: ${want.tiles - 1} tiles, ${want.num_image_tokens} image tokens, ` +
            `max abs difference: tiles ${tileDiff.toExponential(2)}, logits ${diff.toExponential(2)}`,
        );
        expect(tileDiff).toBeLessThan(1e-4);
        expect(diff).toBeLessThan(1e-4);
        tf.dispose([tiles, logits, ref.pixels, ref.pixelValues, ref.inputIds]);
        m.dispose();
      },
    );
  });
}

describe("anyres image-token counts", () => {
  it("equal transformers' processor for many original sizes (the fixture's config and the real 384-pixel one)", async () => {
    const e = await expected();
    const tiny = parseModelConfig(
      JSON.parse(await readFile(join(FIXTURE, "config.json"), "utf8")) as Record<string, unknown>,
      "config.json",
    );
    for (const [h, w, n] of e.token_counts.tiny)
      expect([h, w, anyresLayout(tiny, h, w).numImageTokens]).toEqual([h, w, n]);
    const real = realConfig("llava-onevision-qwen2-0.5b");
    for (const [h, w, n] of e.token_counts["llava-onevision-qwen2-0.5b"])
      expect([h, w, anyresLayout(real, h, w).numImageTokens]).toEqual([h, w, n]);
  });

  it("gives a real checkpoint a 2×2 grid for 768-pixel data at its 384-pixel tower", () => {
    const L = anyresLayout(realConfig("llava-onevision-qwen2-7b"), 768, 768);
    expect([L.gridRows, L.gridCols]).toEqual([2, 2]);
    // 27² base features, then 54 rows of 54 features and a newline
    expect(L.numImageTokens).toBe(729 + 54 * 55);
    // at the tower's own size: the 1×1 grid radfleet always used before
    expect(anyresLayout(realConfig("llava-onevision-qwen2-7b"), 384, 384).numImageTokens).toBe(729 + 27 * 28);
  });

  it("the model's packing produces as many features as the count says, downsampled or not", async () => {
    await tf.setBackend("cpu");
    const m = await buildModel({ ...spec, imageSize: 40 });
    expect(m.imageSize).toBe(40);
    for (const [h, w] of [
      [40, 40],
      [16, 16],
      [9, 33],
      [33, 9],
      [100, 64],
    ]) {
      const pixels = tf.randomNormal([2, h, w, 3], 0, 1, "float32", h * 100 + w) as tf.Tensor4D;
      const emb = m.network.imageEmbeds(pixels, { training: false });
      expect(emb.shape).toEqual([2, m.network.numImageTokensFor(h, w), 16]);
      tf.dispose([pixels, emb]);
    }
    m.dispose();
  });
});

describe("training and generation through anyres tiles", () => {
  it("a step through tiling, unpadding and downsampling reaches the vision tower's adapters (wasm), and generation runs", async () => {
    expect(await tf.setBackend("wasm")).toBe(true);
    // the tall case's size: a 2×2 grid, unpadded and downsampled
    const m = await buildModel({ ...spec, imageSize: 28 });
    const pixels = tf.randomNormal([2, 28, 28, 3], 0, 1, "float32", 9) as tf.Tensor4D;
    const prompt = buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens, instruction: "w10 w11" });
    expect(prompt.filter((t) => t === m.tokenizer.imageTokenId)).toHaveLength(
      m.network.numImageTokensFor(28, 28),
    );
    const ids = [...prompt, 12, 13, 14];
    const inputIds = tf.tensor2d([...ids, ...ids], [2, ids.length], "int32");
    const vars = m.trainableVariables();
    const { grads } = tf.variableGrads(() => {
      const out = m.forward({ pixels, inputIds }, { training: true, dropoutSeed: 1 });
      return tf.add(tf.mean(tf.square(out.logits)), tf.mean(out.clsLogits)) as tf.Scalar;
    }, vars);
    // B starts at zero, so the gradient reaches every lora_B, the vision tower's included
    const visionB = vars.filter((v) => v.name.includes("vision_tower") && v.name.includes("lora_B"));
    expect(visionB.length).toBeGreaterThan(0);
    for (const v of visionB) expect(tf.max(tf.abs(grads[v.name])).dataSync()[0]).toBeGreaterThan(0);
    const out = await m.generate(pixels, [prompt, prompt], { maxNewTokens: 3 });
    expect(out.map((r) => r.length)).toEqual([3, 3]);
    tf.dispose([pixels, inputIds, ...Object.values(grads)]);
    m.dispose();
  });
});

describe("anyres arithmetic", () => {
  it("select_best_resolution prefers kept pixels, then less padding", () => {
    const pins = [
      [16, 16],
      [16, 32],
      [32, 16],
      [32, 32],
    ];
    expect(selectBestResolution(5, 30, pins)).toEqual([16, 32]);
    expect(selectBestResolution(28, 20, pins)).toEqual([32, 32]);
    expect(selectBestResolution(16, 16, pins)).toEqual([16, 16]);
  });

  it("floor division follows Python's float rules", () => {
    expect(pyFloorDiv(6, Math.sqrt(48 / 32))).toBe(4);
    expect(pyFloorDiv(8, Math.sqrt(48 / 32))).toBe(6);
    // CPython rounds (a - fmod(a, b)) / b, so 1 // 0.1 is 9 where Math.floor(1 / 0.1) is 10
    expect(pyFloorDiv(1, 0.1)).toBe(9);
  });

  it("resize weights sum to 1 per output and are the identity at the same size", () => {
    for (const [i, o] of [
      [30, 16],
      [5, 16],
      [7, 7],
      [48, 6],
    ]) {
      for (const w of [bicubicAaWeights(i, o), bilinearWeights(i, o)]) {
        for (let r = 0; r < o; r++) {
          const sum = w.subarray(r * i, (r + 1) * i).reduce((a, b) => a + b, 0);
          expect(sum).toBeCloseTo(1, 5);
          if (i === o) expect(w[r * i + r]).toBeCloseTo(1, 6);
        }
      }
    }
  });
});

describe("anyres configuration checks", () => {
  const raw = (patch: Record<string, unknown>) => {
    const c = tinyConfig(40, 32) as unknown as Record<string, unknown>;
    return { ...c, image_grid_pinpoints: [[32, 32]], ...patch };
  };

  it("accepts pinpoints without the tower's own resolution now that images are tiled", () => {
    expect(parseModelConfig(raw({ image_grid_pinpoints: [[64, 64]] }), "c").image_grid_pinpoints).toEqual([
      [64, 64],
    ]);
  });

  it("refuses what transformers cannot pack either, naming the field", () => {
    expect(() => parseModelConfig(raw({ image_grid_pinpoints: [[32, 48]] }), "c")).toThrow(
      /image_grid_pinpoints\[0\]: expected \[height, width\], positive multiples of vision_config.image_size \(32\), got \[32,48\]/,
    );
    expect(() => parseModelConfig(raw({ vision_aspect_ratio: "anyres" }), "c")).toThrow(
      /vision_aspect_ratio: .*"anyres_max_N"/,
    );
    expect(() => parseModelConfig(raw({ vision_feature_select_strategy: "default" }), "c")).toThrow(
      /vision_feature_select_strategy "default"/,
    );
  });

  it("without pinpoints an image off the tower's resolution is refused with what to set", async () => {
    await tf.setBackend("cpu");
    const m = await buildModel({ ...spec, path: undefined, preset: "tiny", imageSize: 32 });
    expect(m.network.config.image_grid_pinpoints).toEqual([]);
    expect(m.imageSize).toBe(32);
    expect(() => m.network.numImageTokensFor(64, 64)).toThrow(
      /no image_grid_pinpoints.*must be 32×32.*data.imageSize to 32/,
    );
    m.dispose();
  });
});

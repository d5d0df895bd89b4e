// Decoding controls against Hugging Face transformers: radfleet's generate on the tiny parity
// model's inputs, with each setting of tests/fixtures/model/tiny-llava/expected_decoding.json
// (made by tests/reference/model/make_decoding_fixtures.py), gives transformers' tokens.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRunSpec } from "../../common/spec/index.js";
import { SafetensorsFile } from "../../trainer/qlora/index.js";
import { buildModel, type GenerateRequest, type VisionLanguageModel } from "../../trainer/model/index.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/model/tiny-llava");

interface Case {
  name: string;
  baseline: string | null;
  generate: Record<string, number>;
  tokens: number[][];
}

/** transformers' generate keyword → radfleet's option; an unknown keyword fails the test. */
function options(hf: Record<string, number>): GenerateRequest {
  const o: GenerateRequest = { maxNewTokens: 0 };
  for (const [key, v] of Object.entries(hf)) {
    if (key === "max_new_tokens") o.maxNewTokens = v;
    else if (key === "min_new_tokens") o.minNewTokens = v;
    else if (key === "num_beams") o.numBeams = v;
    else if (key === "repetition_penalty") o.repetitionPenalty = v;
    else if (key === "no_repeat_ngram_size") o.noRepeatNgramSize = v;
    else if (key === "length_penalty") o.lengthPenalty = v;
    else if (key === "eos_token_id") o.stopTokenIds = [v];
    else throw new Error(`expected_decoding.json: no radfleet option for generate(${key}=…)`);
  }
  return o;
}

const fixture = JSON.parse(await readFile(join(FIXTURE, "expected_decoding.json"), "utf8")) as {
  cases: Case[];
};
const byName = new Map(fixture.cases.map((c) => [c.name, c]));

let model: VisionLanguageModel;
let pixels: tf.Tensor4D;
let prompts: number[][];

beforeAll(async () => {
  expect(await tf.setBackend("wasm")).toBe(true);
  const f = await SafetensorsFile.open(join(FIXTURE, "expected.safetensors"));
  try {
    const px = f.info("pixels_nhwc").shape as [number, number, number, number];
    pixels = tf.tensor4d(await f.readFloat32("pixels_nhwc"), px);
    const [B, T] = f.info("input_ids").shape;
    const ids = new Int32Array((await f.readRaw("input_ids")).slice().buffer);
    prompts = Array.from({ length: B }, (_, b) => Array.from(ids.subarray(b * T, (b + 1) * T)));
  } finally {
    await f.close();
  }
  model = await buildModel({
    path: FIXTURE,
    quantization: { type: "none", blockSize: 64, doubleQuant: false },
    lora: { r: 4, alpha: 8, dropout: 0, rslora: false, targetModules: ["q_proj"] },
    head: { pooling: "image_tokens" },
    seed: 1,
  });
});

afterAll(() => {
  pixels?.dispose();
  model?.dispose();
});

describe("decoding controls match transformers' generate", () => {
  it("every case changes its baseline's tokens, so an ignored control fails its case", () => {
    for (const c of fixture.cases) {
      if (c.baseline === null) continue;
      const base = byName.get(c.baseline);
      expect(base, `${c.name}: baseline ${c.baseline}`).toBeDefined();
      expect(c.tokens, c.name).not.toEqual(base!.tokens);
    }
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    expect(await model.generate(pixels, prompts, options(c.generate))).toEqual(c.tokens);
  });

  it.each(["greedy combined", "beam 3 combined"])(
    "%s gives the same tokens without the cache",
    async (name) => {
      const c = byName.get(name)!;
      const got = await model.generate(pixels, prompts, { ...options(c.generate), useCache: false });
      expect(got).toEqual(c.tokens);
    },
  );

  it("the run spec's default controls, but for no_repeat_ngram_size, leave greedy and beam output as without them", async () => {
    // noRepeatNgramSize defaults to 4 (the demo's reports; tests/foundation/spec.test.ts); every
    // other control defaults to transformers' no-op value.
    const defaults = { ...parseRunSpec({}).spec.evaluation.generation, noRepeatNgramSize: 0 };
    for (const name of ["greedy", "beam 3", "beam 3 eos 108"]) {
      const c = byName.get(name)!;
      const o = options(c.generate);
      const withDefaults = { ...defaults, maxNewTokens: o.maxNewTokens, numBeams: o.numBeams ?? 1 };
      expect(
        await model.generate(pixels, prompts, { ...withDefaults, stopTokenIds: o.stopTokenIds }),
      ).toEqual(c.tokens);
    }
  });
});

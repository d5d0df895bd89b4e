// Regression: in a batch where rows reach their stop token at different steps, cached decoding
// must stay rectangular (it once fed finished rows inconsistently and broke the cache's shape).
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { buildModel, buildPrompt } from "../../trainer/model/index.js";
import { generateGreedy } from "../../trainer/model/generate.js";

describe("greedy decoding with rows that stop at different steps", () => {
  it("cached equals uncached, and each row ends at its own stop token", async () => {
    await tf.setBackend("cpu");
    const m = await buildModel({
      preset: "tiny",
      quantization: { type: "none", blockSize: 64, doubleQuant: false },
      lora: { r: 2, alpha: 4, dropout: 0, rslora: false, targetModules: ["o_proj"] },
      head: { pooling: "vision" },
      seed: 4,
      imageSize: 32,
    });
    for (const l of m.network.loraLayers())
      l.loraB!.assign(tf.randomNormal(l.loraB!.shape, 0, 0.5, "float32", 3));
    const prompt = buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens });
    const pixels = tf.randomNormal([3, m.imageSize, m.imageSize, 3], 0, 2, "float32", 8) as tf.Tensor4D;
    const prompts = [prompt, prompt, prompt];
    const free = generateGreedy(m.network, pixels, prompts, { maxNewTokens: 6 });
    // A stop token that one row produces early and another does not produce at all.
    const stop = free.flatMap((row, i) =>
      row.slice(0, 4).filter((t) => free.some((other, j) => j !== i && !other.includes(t))),
    )[0];
    expect(stop, `rows generated ${JSON.stringify(free)}`).toBeDefined();
    const o = { maxNewTokens: 6, stopTokenIds: [stop!] };
    const cached = generateGreedy(m.network, pixels, prompts, { ...o, useCache: true });
    const uncached = generateGreedy(m.network, pixels, prompts, { ...o, useCache: false });
    expect(cached).toEqual(uncached);
    const lengths = cached.map((r) => r.length);
    expect(new Set(lengths).size).toBeGreaterThan(1);
    cached.forEach((r, i) => expect(r).toEqual(free[i].slice(0, r.length)));
    m.dispose();
  }, 60_000);
});

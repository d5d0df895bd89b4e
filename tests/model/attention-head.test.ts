// The classifier head's attention pooling: one learned query per label over the image positions.
import * as tf from "@tensorflow/tfjs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HeadOptions } from "../../common/spec/index.js";
import { buildModel, buildPrompt, type VisionLanguageModel } from "../../trainer/model/index.js";

const CORPUS = ["The heart size is normal.", "Mild cardiomegaly with a small left effusion."];

async function tiny(pooling: HeadOptions["pooling"]): Promise<VisionLanguageModel> {
  return buildModel({
    preset: "tiny",
    quantization: { type: "nf4", blockSize: 64, doubleQuant: true },
    lora: { r: 4, alpha: 8, dropout: 0, rslora: false, targetModules: ["q_proj", "v_proj"] },
    head: { pooling },
    seed: 3,
    imageSize: 32,
    corpus: CORPUS,
  });
}

function batchOf(m: VisionLanguageModel, B = 3) {
  const ids = [
    ...buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens }),
    ...m.tokenizer.encode(CORPUS[1]),
  ];
  return {
    pixels: tf.randomNormal([B, m.imageSize, m.imageSize, 3], 0, 1, "float32", 9) as tf.Tensor4D,
    inputIds: tf.tensor2d(Array(B).fill(ids).flat(), [B, ids.length], "int32"),
  };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("head.pooling attention", () => {
  it("starts as mean pooling (zero queries) and learns queries that move off it", async () => {
    await tf.setBackend("cpu");
    const mean = await tiny("image_tokens");
    const att = await tiny("attention");
    const b = batchOf(att);
    const a0 = att.forward(b, { training: false }).clsLogits.arraySync() as number[][];
    const m0 = mean.forward(b, { training: false }).clsLogits.arraySync() as number[][];
    a0.flat().forEach((v, i) => expect(v).toBeCloseTo(m0.flat()[i], 5));

    expect(att.headVariables().map((v) => v.shape)).toEqual([[128, 14], [14], [14, 128]]);
    const target = tf.tensor2d(
      Array.from({ length: 3 * 14 }, (_, i) => i % 2),
      [3, 14],
    );
    const opt = tf.train.adam(0.05);
    for (let s = 0; s < 5; s++)
      opt.minimize(
        () =>
          tf.losses.sigmoidCrossEntropy(target, att.forward(b, { training: true }).clsLogits) as tf.Scalar,
        false,
        att.headVariables(),
      );
    const q = att.headVariables()[2];
    expect(tf.max(tf.abs(q)).dataSync()[0]).toBeGreaterThan(0);
    // Positions that are not image tokens get no attention: changing the text after the image
    // leaves the head's logits as they were (the decoder is causal and the image comes first).
    const longer = tf.concat([b.inputIds, tf.fill([3, 4], att.tokenizer.padId, "int32")], 1) as tf.Tensor2D;
    const x = att.forward(b, { training: false }).clsLogits.dataSync();
    const y = att.forward({ pixels: b.pixels, inputIds: longer }, { training: false }).clsLogits.dataSync();
    Array.from(x).forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
    mean.dispose();
    att.dispose();
  });

  it("saves the queries with the adapter and loads them back; a mean-pooling model refuses them", async () => {
    await tf.setBackend("cpu");
    const att = await tiny("attention");
    const q = att.headVariables()[2];
    q.assign(tf.randomNormal(q.shape, 0, 1, "float32", 4));
    const dir = await mkdtemp(path.join(tmpdir(), "radfleet-head-"));
    dirs.push(dir);
    await att.saveAdapter(dir);
    const names = att.adapterTensors().map((t) => t.name);
    expect(names).toContain("base_model.model.classifier.query");

    const back = await tiny("attention");
    await back.loadAdapter(dir);
    expect(Array.from(back.headVariables()[2].dataSync())).toEqual(Array.from(q.dataSync()));
    const mean = await tiny("image_tokens");
    await expect(mean.loadAdapter(dir)).rejects.toThrow(
      /unexpected: \[base_model\.model\.classifier\.query\]/,
    );
    for (const m of [att, back, mean]) m.dispose();
  });
});

// `radfleet pretrain` (how the shipped tiny base is made), shortened: it writes a model directory
// that the trainer's model builder loads as a base, in NF4, like models/tiny-base.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, expect, test } from "vitest";
import { buildModel, buildPrompt } from "../../trainer/model/index.js";
import { radfleet } from "../e2e/helpers.js";

let dir = "";
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("writes a model directory the trainer loads as its base", async () => {
  dir = await mkdtemp(path.join(tmpdir(), "radfleet-pretrain-"));
  const out = path.join(dir, "base");
  const args = [
    "pretrain",
    "--out",
    out,
    "--data",
    path.join(dir, "data"),
    "--studies",
    "40",
    "--steps",
    "2",
  ];
  const { code, out: text } = await radfleet(args).done;
  expect(code, text).toBe(0);
  expect(text).toMatch(/step 2\/2 {2}loss \d+\.\d+/);
  expect((await readdir(out)).sort()).toEqual([
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "tokenizer.json",
  ]);

  await tf.setBackend("cpu");
  const m = await buildModel({
    preset: "tiny",
    path: out,
    quantization: { type: "nf4", blockSize: 64, doubleQuant: true },
    lora: { r: 4, alpha: 8, dropout: 0, rslora: false, targetModules: ["q_proj", "v_proj"] },
    head: { pooling: "image_tokens" },
    seed: 1,
    imageSize: 64,
    corpus: [],
  });
  const ids = [
    ...buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens }),
    ...m.tokenizer.encode("no effusion."),
  ];
  const { logits } = m.forward(
    {
      pixels: tf.zeros([1, m.imageSize, m.imageSize, 3]) as tf.Tensor4D,
      inputIds: tf.tensor2d([ids], [1, ids.length], "int32"),
    },
    { training: false },
  );
  expect(logits.shape).toEqual([1, ids.length, m.tokenizer.vocabSize]);
  expect(m.network.loraLayers().filter((l) => l.quantized !== null).length).toBeGreaterThan(0);
}, 120_000);

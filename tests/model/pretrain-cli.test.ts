// `radfleet pretrain` (how the shipped tiny base is made), shortened: it writes a model directory
// that the trainer's model builder loads as a base, in NF4, like models/tiny-base.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
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
    "--held-out",
    "3",
  ];
  const { code, out: text } = await radfleet(args).done;
  expect(code, text).toBe(0);
  expect(text).toMatch(/step 2\/2 {2}loss \d+\.\d+/);
  expect(text).toMatch(
    /final: held-out \(3 studies\): loss \d+\.\d+, captions: labeler micro F1 \d\.\d{3}, .*; checklist: micro F1 \d\.\d{3}/,
  );
  expect((await readdir(out)).sort()).toEqual([
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "pretrain.json",
    "tokenizer.json",
  ]);
  // The record of how the base was made: the command that reproduces it and its held-out quality.
  const record = JSON.parse(await readFile(path.join(out, "pretrain.json"), "utf8")) as {
    command: string;
    options: { steps: number; seed: number; heldOut: number };
    quality: { studies: number; heldOutLoss: number; microF1: number; samples: unknown[] };
  };
  expect(record.command).toBe(["radfleet", ...args].join(" "));
  expect(record.options).toMatchObject({ steps: 2, seed: 11, heldOut: 3 });
  expect(record.quality.studies).toBe(3);
  expect(record.quality.heldOutLoss).toBeGreaterThan(0);
  expect(record.quality.samples).toHaveLength(3);
  // The corpus is reused only with the settings it was made with.
  const other = await radfleet([...args.slice(0, 6), "41", ...args.slice(7)]).done;
  expect(other.code, other.out).toBe(1);
  expect(other.out).toContain(
    'holds a corpus made with {"studies":40,"seed":11}, not {"studies":41,"seed":11}',
  );

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

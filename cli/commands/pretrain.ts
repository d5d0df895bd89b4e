// `radfleet pretrain`: trains the tiny preset's full weights into the shipped base model
// (models/tiny-base). It stands in for a general-purpose pretrained VLM: it learns to describe
// synthetic radiographs in a *different* report style ("terse") and with a different finding
// prevalence than the fine-tuning data, so fine-tuning has something real to adapt. The classifier
// head is not trained here (language-model loss only); fine-tuning starts it from its seeded init.
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { intFlag, numFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { initBackend } from "../../trainer/backend/index.js";
import {
  loadDataset,
  loadImage,
  ShardedSampler,
  synthesize,
  type Example,
} from "../../trainer/data/index.js";
import { buildModel, buildPrompt, TINY_BASE_DIR } from "../../trainer/model/index.js";
import { encodeExample, labelTargets, makeBatch } from "../../trainer/train/index.js";
import { maskedCrossEntropy } from "../../trainer/train/index.js";
import { ADAMW_DEFAULTS, adamwStep, clipByGlobalNorm, newAdamWState } from "../../trainer/optim/index.js";
import { FlatParams } from "../../trainer/train/index.js";
import { learningRate } from "../../trainer/optim/index.js";

/** Finding prevalence of the pretraining corpus: flatter than the fine-tuning default. */
const PRETRAIN_PREVALENCE = {
  Atelectasis: 0.3,
  Cardiomegaly: 0.3,
  Consolidation: 0.2,
  Edema: 0.2,
  "Enlarged Cardiomediastinum": 0.15,
  Fracture: 0.1,
  "Lung Lesion": 0.2,
  "Lung Opacity": 0.25,
  "Pleural Effusion": 0.3,
  "Pleural Other": 0.1,
  Pneumonia: 0.15,
  Pneumothorax: 0.15,
  "Support Devices": 0.25,
};

const USAGE = `usage: radfleet pretrain [--out DIR] [--data DIR] [--studies N] [--steps N] [--batch N] [--lr X] [--seed N]

Trains the tiny preset's full weights on a synthetic "terse"-style corpus and writes a Hugging Face
style model directory (default ${TINY_BASE_DIR}, the base \`radfleet run\` fine-tunes).`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      out: { type: "string", default: TINY_BASE_DIR },
      data: { type: "string", default: "data/pretrain-synthetic" },
      studies: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      seed: { type: "string" },
      "image-size": { type: "string" },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let steps: number, batchSize: number, peak: number, seed: number, imageSize: number, studies: number;
  try {
    steps = intFlag("steps", values.steps, 300);
    batchSize = intFlag("batch", values.batch, 8);
    peak = numFlag("lr", values.lr, 0.003, 0);
    seed = intFlag("seed", values.seed, 11, 0);
    imageSize = intFlag("image-size", values["image-size"], 64, 16);
    studies = intFlag("studies", values.studies, 1500, 10);
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const dataDir = resolve(values.data!);
  const backend = await initBackend("auto");
  console.log(`backend ${backend.name}`);

  if (!existsSync(join(dataDir, "mimic-cxr-2.0.0-split.csv"))) {
    console.log(`generating the pretraining corpus in ${dataDir} (terse style)`);
    await synthesize({
      out: dataDir,
      studies,
      seed,
      difficulty: "easy",
      imageSize: 128,
      reportStyle: "terse",
      prevalence: PRETRAIN_PREVALENCE,
    });
  }
  const ds = await loadDataset({ format: "synthetic", root: dataDir, section: "both" });
  const train = ds.examples.filter((e) => e.split === "train" && e.imagePath);
  // The vocabulary also covers the fine-tuning style, so the base can learn to write it.
  const vocabDir = join(dataDir, "vocabulary-default-style");
  if (!existsSync(join(vocabDir, "mimic-cxr-2.0.0-split.csv"))) {
    await synthesize({ out: vocabDir, studies: 400, seed: seed + 1, difficulty: "easy", imageSize: 32 });
  }
  const vocabSet = await loadDataset({ format: "synthetic", root: vocabDir, section: "both" });
  const model = await buildModel({
    preset: "tiny",
    quantization: { type: "none", blockSize: 64, doubleQuant: false },
    lora: { r: 1, alpha: 1, dropout: 0, rslora: false, targetModules: [] },
    head: { pooling: "image_tokens" },
    seed,
    imageSize,
    trainBase: true,
    corpus: [...train, ...vocabSet.examples].map((e: Example) => e.report),
  });
  const tok = model.tokenizer;
  const prompt = buildPrompt(tok, { numImageTokens: model.numImageTokens });
  const params = new FlatParams(model.trainableVariables());
  console.log(
    `pretraining ${params.size.toLocaleString()} parameters on ${train.length} studies, vocabulary ${tok.vocabSize}`,
  );
  const sampler = new ShardedSampler({ datasetSize: train.length, seed, rank: 0, worldSize: 1, batchSize });
  const opt = newAdamWState(params.size);
  const flat = new Float32Array(params.size);
  const grads = new Float32Array(params.size);
  const cacheDir = join(dataDir, ".cache");
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const exs = sampler.next().indices.map((i) => train[i]);
    const images = await Promise.all(exs.map((e) => loadImage(e.imagePath!, { size: imageSize, cacheDir })));
    const batch = makeBatch(
      exs.map((e) => e.id),
      images,
      imageSize,
      model.imageChannels,
      exs.map((e) => encodeExample(prompt, tok.encode(e.report), 64, tok)),
      exs.map((e) => labelTargets(e.labels, "ignore")),
    );
    let loss = 0;
    const { value, grads: g } = tf.variableGrads(
      () => {
        const out = model.forward(batch, { training: true });
        const l = maskedCrossEntropy(out.logits, batch.targets, batch.lossMask);
        loss = l.dataSync()[0];
        return l;
      },
      params.slots.map((s) => s.variable),
    );
    params.flattenGrads(g, grads);
    tf.dispose([value, ...Object.values(g)]);
    batch.dispose();
    clipByGlobalNorm(grads, 1);
    params.read(flat);
    const lr = learningRate(step, { kind: "cosine", peak, warmupSteps: 20, totalSteps: steps });
    adamwStep(flat, grads, opt, lr, { ...ADAMW_DEFAULTS, weightDecay: 0.01 });
    params.write(flat);
    if (step % 25 === 0 || step === steps - 1) {
      console.log(
        `step ${step + 1}/${steps}  loss ${loss.toFixed(4)}  ${((performance.now() - t0) / 1000 / (step + 1)).toFixed(2)} s/step`,
      );
    }
  }
  const out = resolve(values.out!);
  await rm(out, { recursive: true, force: true });
  await model.saveBase(out);
  console.log(`wrote ${out}`);
  return 0;
}

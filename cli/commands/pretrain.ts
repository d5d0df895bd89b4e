// `radfleet pretrain`: trains the tiny preset's full weights into the shipped base model
// (models/tiny-base). It stands in for a general-purpose pretrained VLM: it learns to describe
// synthetic radiographs in a *different* report style ("terse") and with a different finding
// prevalence than the fine-tuning data, from captions, findings checklists and an image-tagging loss
// (trainer/train/pretrain.ts). The classifier head is not trained here; fine-tuning starts it from
// its seeded init.
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { intFlag, numFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { initBackend } from "../../trainer/backend/index.js";
import { loadDataset, synthesize, type Example } from "../../trainer/data/index.js";
import { buildModel, TINY_BASE_DIR } from "../../trainer/model/index.js";
import { checklistVocabulary, pretrainBase, type PretrainOptions } from "../../trainer/train/index.js";

/** The shipped base's recipe (models/tiny-base/pretrain.json records the run that made it). */
const DEFAULTS = {
  steps: 6000,
  batch: 16,
  lr: 0.003,
  seed: 11,
  studies: 16000,
  checklist: 0.5,
  tagging: 1,
  evalEvery: 1000,
};

/** Written beside the corpus: the settings it was made with. */
const CORPUS_FILE = "pretrain-corpus.json";

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

const USAGE = `usage: radfleet pretrain [--out DIR] [--data DIR] [--studies N] [--steps N] [--batch N] [--lr X]
                         [--seed N] [--image-size PX] [--eval-every N] [--held-out N] [--checklist SHARE]
                         [--tagging WEIGHT] [--snapshots DIR]

Trains the tiny preset's full weights on a synthetic "terse"-style corpus (made in --data once), as
captions and (a share of --checklist, default ${DEFAULTS.checklist}) as findings checklists, with an
image-tagging loss (weight --tagging, default ${DEFAULTS.tagging}), leaving the classifier head
untouched. Writes a Hugging Face style model directory (default ${TINY_BASE_DIR}, the base
\`radfleet run\` fine-tunes) with pretrain.json: the options, the command, and the base's quality
on held-out pretraining-style studies.`;

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
      "eval-every": { type: "string" },
      "held-out": { type: "string" },
      checklist: { type: "string" },
      tagging: { type: "string" },
      snapshots: { type: "string" },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let opts: Omit<PretrainOptions, "cacheDir">, studies: number, heldOutCount: number;
  try {
    opts = {
      steps: intFlag("steps", values.steps, DEFAULTS.steps),
      batchSize: intFlag("batch", values.batch, DEFAULTS.batch),
      learningRate: numFlag("lr", values.lr, DEFAULTS.lr, 0),
      warmupSteps: 0,
      weightDecay: 0.01,
      seed: intFlag("seed", values.seed, DEFAULTS.seed, 0),
      imageSize: intFlag("image-size", values["image-size"], 64, 16),
      maxReportTokens: 64,
      evalEvery: intFlag("eval-every", values["eval-every"], DEFAULTS.evalEvery, 0),
      checklistFraction: numFlag("checklist", values.checklist, DEFAULTS.checklist, 0),
      taggingWeight: numFlag("tagging", values.tagging, DEFAULTS.tagging, 0),
    };
    if (opts.checklistFraction > 1)
      throw new Error(`--checklist: expected a share in [0, 1], got ${opts.checklistFraction}`);
    opts.warmupSteps = Math.min(200, Math.ceil(opts.steps / 20));
    studies = intFlag("studies", values.studies, DEFAULTS.studies, 10);
    heldOutCount = intFlag("held-out", values["held-out"], 200, 1);
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const dataDir = resolve(values.data!);
  const backend = await initBackend("auto");
  console.log(`backend ${backend.name}`);

  // The corpus is made once and reused; a corpus made with other settings is refused, not reused.
  const corpus = { studies, seed: opts.seed };
  const corpusFile = join(dataDir, CORPUS_FILE);
  if (!existsSync(join(dataDir, "mimic-cxr-2.0.0-split.csv"))) {
    console.log(`generating the pretraining corpus in ${dataDir} (${studies} studies, terse style)`);
    await synthesize({
      out: dataDir,
      studies,
      seed: opts.seed,
      difficulty: "easy",
      imageSize: 128,
      reportStyle: "terse",
      prevalence: PRETRAIN_PREVALENCE,
    });
    await writeFile(corpusFile, JSON.stringify(corpus) + "\n");
  } else {
    const made = existsSync(corpusFile) ? (await readFile(corpusFile, "utf8")).trim() : "(not recorded)";
    if (made !== JSON.stringify(corpus)) {
      console.error(
        `radfleet pretrain: ${dataDir} holds a corpus made with ${made}, not ${JSON.stringify(corpus)}; remove it or pass --data DIR`,
      );
      return 1;
    }
  }
  const ds = await loadDataset({ format: "synthetic", root: dataDir, section: "both" });
  const train = ds.examples.filter((e) => e.split === "train" && e.imagePath);
  const heldOut = ds.examples.filter((e) => e.split !== "train" && e.imagePath).slice(0, heldOutCount);
  // The vocabulary also covers the fine-tuning style, so the base can learn to write it.
  const vocabDir = join(dataDir, "vocabulary-default-style");
  if (!existsSync(join(vocabDir, "mimic-cxr-2.0.0-split.csv"))) {
    await synthesize({ out: vocabDir, studies: 400, seed: opts.seed + 1, difficulty: "easy", imageSize: 32 });
  }
  const vocabSet = await loadDataset({ format: "synthetic", root: vocabDir, section: "both" });
  const model = await buildModel({
    preset: "tiny",
    quantization: { type: "none", blockSize: 64, doubleQuant: false },
    lora: { r: 1, alpha: 1, dropout: 0, rslora: false, targetModules: [] },
    head: { pooling: "image_tokens" },
    seed: opts.seed,
    imageSize: opts.imageSize,
    trainBase: true,
    corpus: [...[...train, ...vocabSet.examples].map((e: Example) => e.report), ...checklistVocabulary()],
  });
  const snapshots = values.snapshots ? resolve(values.snapshots) : null;
  const result = await pretrainBase(
    model,
    train,
    heldOut,
    { ...opts, cacheDir: join(dataDir, ".cache") },
    console.log,
    snapshots
      ? async (step) => {
          const dir = join(snapshots, `step-${step}`);
          await rm(dir, { recursive: true, force: true });
          await model.saveBase(dir);
          console.log(`snapshot ${dir}`);
        }
      : undefined,
  );
  const out = resolve(values.out!);
  await rm(out, { recursive: true, force: true });
  await model.saveBase(out);
  await writeFile(
    join(out, "pretrain.json"),
    JSON.stringify(
      {
        command: ["radfleet", "pretrain", ...argv].join(" "),
        backend: backend.name,
        options: { ...opts, studies, heldOut: heldOut.length, trainStudies: train.length },
        secondsPerStep: result.secondsPerStep,
        finalLoss: result.finalLoss,
        quality: result.quality,
        history: result.history.map((h) => ({
          step: h.step,
          loss: h.loss,
          ...h.quality,
          samples: undefined,
        })),
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`wrote ${out}`);
  return 0;
}

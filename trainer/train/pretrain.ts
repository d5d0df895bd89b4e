// Pretraining the shipped base (`radfleet pretrain`): the tiny preset's full weights, trained on a
// synthetic corpus written in a *different* report style ("terse") and with a different finding
// prevalence than the fine-tuning data. It stands in for a general-purpose pretrained VLM. The
// classifier head — the thing the fine-tuning study is about — is never trained here and starts
// fine-tuning from its seeded init. Three objectives, all of the kind a general VLM is pretrained on:
//
// - captions: the language-model loss on the terse report after "Write the findings and impression
//   of this chest X-ray.";
// - checklists (a share of the examples): "List the findings of this chest X-ray." answered with every
//   observation in a fixed order, yes / possible / no: dense tagging data in which every uncertain
//   token is a visual decision;
// - image tagging: a pretraining-only linear tagger on the mean of the projected image features
//   predicts the observations (BCE), so pooled image features carry them as a contrastively trained
//   tower's do. Captions alone teach the decoder the report language long before it looks at the
//   image (greedy captions stay one text for every image after 1,500 steps), because the mean of the
//   image tokens, which near-uniform attention first reads, carries almost nothing.
//
// The base's own quality is measured both ways on held-out pretraining-style studies: its greedy
// captions labelled by radfleet's labeler, and its checklist answers, each against the studies'
// findings.
import * as tf from "@tensorflow/tfjs";
import { CHEXPERT_LABELS, type ChexpertLabel, type LabelVector } from "../../common/chexpert.js";
import type { Example } from "../data/index.js";
import { mulberry32 } from "../../common/random.js";
import { loadImage, ShardedSampler } from "../data/index.js";
import { clinicalMetrics, labelReport } from "../eval/index.js";
import { buildPrompt, type VisionLanguageModel } from "../model/index.js";
import { ADAMW_DEFAULTS, adamwStep, clipByGlobalNorm, learningRate, newAdamWState } from "../optim/index.js";
import { encodeExample, labelTargets, makeBatch, pixelTensor } from "./batch.js";
import { maskedCrossEntropy } from "./losses.js";
import { FlatParams } from "./params.js";

/** The checklist prompt's instruction. */
export const CHECKLIST_INSTRUCTION = "List the findings of this chest X-ray.";

/** One word per observation (No Finding has none: it is the absence of the others), in checklist order. */
export const CHECKLIST_TERMS: ReadonlyArray<[ChexpertLabel, string]> = [
  ["Atelectasis", "atelectasis"],
  ["Cardiomegaly", "cardiomegaly"],
  ["Consolidation", "consolidation"],
  ["Edema", "edema"],
  ["Enlarged Cardiomediastinum", "mediastinum"],
  ["Fracture", "fracture"],
  ["Lung Lesion", "nodule"],
  ["Lung Opacity", "opacity"],
  ["Pleural Effusion", "effusion"],
  ["Pleural Other", "thickening"],
  ["Pneumonia", "pneumonia"],
  ["Pneumothorax", "pneumothorax"],
  ["Support Devices", "devices"],
];

/** The checklist for a study's labels: "atelectasis no. cardiomegaly yes. ..." (1 yes, -1 possible, else no). */
export function checklistText(labels: LabelVector): string {
  return CHECKLIST_TERMS.map(([label, term]) => {
    const v = labels[CHEXPERT_LABELS.indexOf(label)];
    return `${term} ${v === 1 ? "yes" : v === -1 ? "possible" : "no"}.`;
  }).join(" ");
}

/** Text that holds every word the checklist prompt and its answers use (for a word-level tokenizer's corpus). */
export function checklistVocabulary(): string[] {
  const all = (v: 1 | -1 | 0): LabelVector => CHEXPERT_LABELS.map(() => v);
  return [CHECKLIST_INSTRUCTION, checklistText(all(1)), checklistText(all(-1)), checklistText(all(0))];
}

/** Reads a generated checklist back into label values (1, -1, 0); an observation it skips is null. */
export function parseChecklist(text: string): LabelVector {
  const out: LabelVector = CHEXPERT_LABELS.map(() => null);
  for (const [label, term] of CHECKLIST_TERMS) {
    const m = new RegExp(`\\b${term} (yes|possible|no)\\b`).exec(text);
    if (m) out[CHEXPERT_LABELS.indexOf(label)] = m[1] === "yes" ? 1 : m[1] === "possible" ? -1 : 0;
  }
  return out;
}

let taggerInstances = 0;

/** What the pretraining tagger predicts: every observation but No Finding (the absence of the others). */
const TAG_LABELS = CHECKLIST_TERMS.map(([label]) => label);

export interface PretrainOptions {
  steps: number;
  batchSize: number;
  /** Peak learning rate of the cosine schedule. */
  learningRate: number;
  warmupSteps: number;
  weightDecay: number;
  seed: number;
  imageSize: number;
  /** Report tokens the loss sees (longer reports are cut). */
  maxReportTokens: number;
  /** Decoded-image cache directory. */
  cacheDir: string;
  /** Steps between held-out quality checks (0: only at the end). */
  evalEvery: number;
  /** Share of training examples given as checklists rather than captions (0..1). */
  checklistFraction: number;
  /**
   * Weight of the image-tagging loss: a pretraining-only linear tagger on the mean of the image
   * features predicts the study's observations (BCE), so that pooled image features carry them, as a
   * contrastively pretrained tower's do. 0: off. The tagger is discarded; the classifier head is not it.
   */
  taggingWeight: number;
}

/** How well a base describes held-out studies in its own (pretraining) style. */
export interface BaseQuality {
  studies: number;
  /** Mean per-token cross-entropy of the held-out reports, teacher-forced. */
  heldOutLoss: number;
  /** Labeler on the greedy reports vs the studies' findings, uncertain counted negative (fine-tuning's headline policy). */
  microF1: number;
  macroF1: number;
  perLabelF1: Record<ChexpertLabel, number>;
  /** Distinct greedy reports / studies. */
  distinct: number;
  /** The checklist's greedy answers vs the studies' findings, "possible" counted negative. */
  checklistMicroF1: number;
  checklistMacroF1: number;
  checklistPerLabelF1: Record<ChexpertLabel, number>;
  /** A few greedy reports with their references, for people. */
  samples: Array<{ id: string; reference: string; generated: string }>;
}

export interface PretrainResult {
  finalLoss: number;
  secondsPerStep: number;
  quality: BaseQuality;
  /** The quality checks made along the way (step → quality). */
  history: Array<{ step: number; loss: number; quality: BaseQuality }>;
}

async function imagesOf(exs: Example[], size: number, cacheDir: string): Promise<Float32Array[]> {
  return Promise.all(exs.map((e) => loadImage(e.imagePath!, { size, cacheDir })));
}

/** The caption prompt (the report instruction fine-tuning also uses) and the checklist prompt. */
function pretrainPrompts(model: VisionLanguageModel): { prompt: number[]; checklistPrompt: number[] } {
  const numImageTokens = model.numImageTokens;
  return {
    prompt: buildPrompt(model.tokenizer, { numImageTokens }),
    checklistPrompt: buildPrompt(model.tokenizer, { numImageTokens, instruction: CHECKLIST_INSTRUCTION }),
  };
}

/** The base's held-out quality: teacher-forced loss and the labeler on its greedy reports. */
export async function measureBaseQuality(
  model: VisionLanguageModel,
  heldOut: Example[],
  opts: { imageSize: number; maxReportTokens: number; cacheDir: string; batchSize?: number },
): Promise<BaseQuality> {
  const tok = model.tokenizer;
  const { prompt, checklistPrompt } = pretrainPrompts(model);
  const B = opts.batchSize ?? 16;
  let lossSum = 0;
  let tokens = 0;
  const generated: string[] = [];
  const checklists: string[] = [];
  for (let i = 0; i < heldOut.length; i += B) {
    const exs = heldOut.slice(i, i + B);
    const images = await imagesOf(exs, opts.imageSize, opts.cacheDir);
    const enc = exs.map((e) => encodeExample(prompt, tok.encode(e.report), opts.maxReportTokens, tok));
    const batch = makeBatch(
      exs.map((e) => e.id),
      images,
      opts.imageSize,
      model.imageChannels,
      enc,
      exs.map((e) => labelTargets(e.labels, "ignore")),
    );
    try {
      const n = enc.reduce((s, e) => s + e.reportTokens, 0);
      const l = tf.tidy(() =>
        maskedCrossEntropy(model.forward(batch, { training: false }).logits, batch.targets, batch.lossMask),
      );
      lossSum += (await l.data())[0] * n;
      tokens += n;
      l.dispose();
    } finally {
      batch.dispose();
    }
    const pixels = pixelTensor([...images, ...images], opts.imageSize, model.imageChannels);
    try {
      const out = await model.generate(
        pixels,
        [...exs.map(() => prompt), ...exs.map(() => checklistPrompt)],
        { maxNewTokens: opts.maxReportTokens + 1, stopTokenIds: [tok.eosId] },
      );
      generated.push(...out.slice(0, exs.length).map((ids) => tok.decode(ids)));
      checklists.push(...out.slice(exs.length).map((ids) => tok.decode(ids)));
    } finally {
      pixels.dispose();
    }
  }
  const m = clinicalMetrics(
    generated.map((g) => labelReport(g)),
    heldOut.map((e) => e.labels),
    "negative",
  );
  const c = clinicalMetrics(
    checklists.map(parseChecklist),
    heldOut.map((e) => e.labels),
    "negative",
  );
  const f1s = (x: typeof m): Record<ChexpertLabel, number> =>
    Object.fromEntries(CHEXPERT_LABELS.map((l) => [l, x.perLabel[l].f1])) as Record<ChexpertLabel, number>;
  return {
    studies: heldOut.length,
    heldOutLoss: lossSum / Math.max(tokens, 1),
    microF1: m.micro14.f1,
    macroF1: m.macro14.f1,
    perLabelF1: f1s(m),
    distinct: new Set(generated).size / Math.max(generated.length, 1),
    checklistMicroF1: c.micro14.f1,
    checklistMacroF1: c.macro14.f1,
    checklistPerLabelF1: f1s(c),
    samples: heldOut.slice(0, 4).map((e, i) => ({ id: e.id, reference: e.report, generated: generated[i] })),
  };
}

/** One line for logs: the headline figures of a quality check. */
export function formatBaseQuality(q: BaseQuality): string {
  return (
    `held-out (${q.studies} studies): loss ${q.heldOutLoss.toFixed(4)}, captions: labeler micro F1 ${q.microF1.toFixed(3)}, ` +
    `macro F1 ${q.macroF1.toFixed(3)}, distinct ${(100 * q.distinct).toFixed(0)}%; checklist: micro F1 ` +
    `${q.checklistMicroF1.toFixed(3)}, macro F1 ${q.checklistMacroF1.toFixed(3)}`
  );
}

/**
 * Trains every weight of the model except the classifier head on the three objectives above, AdamW
 * with a warmed-up cosine schedule, and checks held-out quality every `evalEvery` steps and at the
 * end. The model is trained in place; the tagger is made here and disposed of on the way out.
 */
export async function pretrainBase(
  model: VisionLanguageModel,
  train: Example[],
  heldOut: Example[],
  opts: PretrainOptions,
  log: (line: string) => void = console.log,
  /** Called after each intermediate quality check (e.g. to keep a snapshot of the base). */
  onCheck?: (step: number, quality: BaseQuality) => Promise<void>,
): Promise<PretrainResult> {
  const D = model.config.text_config.hidden_size;
  const taggerId = taggerInstances++;
  const tagger = {
    weight: tf.variable(
      tf.randomNormal([D, TAG_LABELS.length], 0, 0.02, "float32", opts.seed),
      true,
      `pretrain.tagger.weight#${taggerId}`,
    ),
    bias: tf.variable(tf.zeros([TAG_LABELS.length]), true, `pretrain.tagger.bias#${taggerId}`),
  };
  try {
    return await pretrainLoop(model, train, heldOut, opts, log, onCheck, tagger);
  } finally {
    tf.dispose([tagger.weight, tagger.bias]);
  }
}

async function pretrainLoop(
  model: VisionLanguageModel,
  train: Example[],
  heldOut: Example[],
  opts: PretrainOptions,
  log: (line: string) => void,
  onCheck: ((step: number, quality: BaseQuality) => Promise<void>) | undefined,
  tagger: { weight: tf.Variable; bias: tf.Variable },
): Promise<PretrainResult> {
  const tok = model.tokenizer;
  const { prompt, checklistPrompt } = pretrainPrompts(model);
  const seqLen = Math.max(prompt.length, checklistPrompt.length) + opts.maxReportTokens + 1;
  const choose = mulberry32(opts.seed ^ 0x5eed);
  const headVars = new Set(model.headVariables().map((v) => v.name));
  const tagged = TAG_LABELS.map((l) => CHEXPERT_LABELS.indexOf(l));
  const params = new FlatParams([
    ...model.trainableVariables().filter((v) => !headVars.has(v.name)),
    ...(opts.taggingWeight > 0 ? [tagger.weight, tagger.bias] : []),
  ]);
  log(
    `pretraining ${params.size.toLocaleString()} parameters on ${train.length} studies, vocabulary ${tok.vocabSize}`,
  );
  const sampler = new ShardedSampler({
    datasetSize: train.length,
    seed: opts.seed,
    rank: 0,
    worldSize: 1,
    batchSize: opts.batchSize,
  });
  const adam = newAdamWState(params.size);
  const flat = new Float32Array(params.size);
  const grads = new Float32Array(params.size);
  const history: PretrainResult["history"] = [];
  const quality = async (): Promise<BaseQuality> =>
    measureBaseQuality(model, heldOut, {
      imageSize: opts.imageSize,
      maxReportTokens: opts.maxReportTokens,
      cacheDir: opts.cacheDir,
    });
  let loss = NaN;
  let trainSeconds = 0;
  for (let step = 0; step < opts.steps; step++) {
    const t0 = performance.now();
    const exs = sampler.next().indices.map((i) => train[i]);
    const images = await imagesOf(exs, opts.imageSize, opts.cacheDir);
    const batch = makeBatch(
      exs.map((e) => e.id),
      images,
      opts.imageSize,
      model.imageChannels,
      exs.map((e) =>
        choose() < opts.checklistFraction
          ? encodeExample(
              checklistPrompt,
              tok.encode(checklistText(e.labels)),
              opts.maxReportTokens,
              tok,
              seqLen,
            )
          : encodeExample(prompt, tok.encode(e.report), opts.maxReportTokens, tok, seqLen),
      ),
      exs.map((e) => labelTargets(e.labels, "ignore")),
    );
    const tags = tf.tensor2d(
      exs.flatMap((e) => tagged.map((i) => (e.labels[i] === 1 || e.labels[i] === -1 ? 1 : 0))),
      [exs.length, tagged.length],
    );
    const { value, grads: g } = tf.variableGrads(
      () => {
        const out = model.forward(batch, { training: true });
        const lm = maskedCrossEntropy(out.logits, batch.targets, batch.lossMask);
        if (opts.taggingWeight === 0) return lm;
        const pooled = tf.mean(out.imageEmbeds, 1) as tf.Tensor2D; // [B, D]
        const logits = tf.add(tf.matMul(pooled, tagger.weight), tagger.bias); // [B, 13]
        return tf.add(
          lm,
          tf.mul(tf.losses.sigmoidCrossEntropy(tags, logits), opts.taggingWeight),
        ) as tf.Scalar;
      },
      params.slots.map((s) => s.variable),
    );
    loss = (await value.data())[0];
    params.flattenGrads(g, grads);
    tf.dispose([value, tags, ...Object.values(g)]);
    batch.dispose();
    if (!Number.isFinite(loss)) throw new Error(`pretraining diverged at step ${step + 1}: loss ${loss}`);
    clipByGlobalNorm(grads, 1);
    params.read(flat);
    const lr = learningRate(step, {
      kind: "cosine",
      peak: opts.learningRate,
      warmupSteps: opts.warmupSteps,
      totalSteps: opts.steps,
    });
    adamwStep(flat, grads, adam, lr, { ...ADAMW_DEFAULTS, weightDecay: opts.weightDecay });
    params.write(flat);
    trainSeconds += (performance.now() - t0) / 1000;
    const done = step + 1;
    if (done % 50 === 0 || done === 1 || done === opts.steps)
      log(`step ${done}/${opts.steps}  loss ${loss.toFixed(4)}  ${(trainSeconds / done).toFixed(2)} s/step`);
    if (opts.evalEvery > 0 && done % opts.evalEvery === 0 && done < opts.steps) {
      const q = await quality();
      history.push({ step: done, loss, quality: q });
      log(`step ${done}: ${formatBaseQuality(q)}`);
      await onCheck?.(done, q);
    }
  }
  const q = await quality();
  history.push({ step: opts.steps, loss, quality: q });
  log(`final: ${formatBaseQuality(q)}`);
  return { finalLoss: loss, secondsPerStep: trainSeconds / Math.max(opts.steps, 1), quality: q, history };
}

// Turning examples into model inputs. Every sequence has the same length (prompt + report budget
// + end token), so tensor shapes never change between steps: the kernels stay warm and a replica's
// work per step does not depend on its shard's report lengths.
import * as tf from "@tensorflow/tfjs";
import type { LabelValue, LabelVector } from "../../common/chexpert.js";
import { NUM_LABELS } from "../../common/chexpert.js";

export interface TokenizerLike {
  encode(text: string): number[];
  readonly padId: number;
  readonly eosId: number;
}

export interface EncodedExample {
  /** prompt ++ report ++ eos ++ pad, length = seqLen. */
  ids: Int32Array;
  /** 1 where the token at t+1 is a report token or the end token (what the LM learns). */
  lossMask: Float32Array;
  attention: Float32Array;
  reportTokens: number;
}

/**
 * Lays out one training sequence. The LM loss at position t predicts token t+1, so the mask is set on
 * the positions before each report token. seqLen (default prompt + report budget + end token) is
 * larger when prompts vary in length (a findings table in the prompt): the report follows its own
 * prompt and padding fills the rest.
 */
export function encodeExample(
  prompt: number[],
  reportIds: number[],
  maxReportTokens: number,
  tok: TokenizerLike,
  seqLen = prompt.length + maxReportTokens + 1,
): EncodedExample {
  const report = reportIds.slice(0, maxReportTokens);
  if (seqLen < prompt.length + maxReportTokens + 1) {
    throw new Error(
      `encodeExample: sequence length ${seqLen} cannot hold a ${prompt.length}-token prompt, ${maxReportTokens} report tokens and the end token`,
    );
  }
  const ids = new Int32Array(seqLen).fill(tok.padId);
  const lossMask = new Float32Array(seqLen);
  const attention = new Float32Array(seqLen);
  ids.set(prompt, 0);
  ids.set(report, prompt.length);
  ids[prompt.length + report.length] = tok.eosId;
  const last = prompt.length + report.length; // index of eos
  attention.fill(1, 0, last + 1);
  lossMask.fill(1, prompt.length - 1, last); // predicts report[0] .. eos
  return { ids, lossMask, attention, reportTokens: report.length + 1 };
}

/** Class targets and mask under the uncertain-label policy (U-Ignore, U-Ones, U-Zeros); blanks are masked. */
export function labelTargets(
  labels: LabelVector,
  uncertain: "ignore" | "positive" | "negative",
): { target: Float32Array; mask: Float32Array } {
  const target = new Float32Array(NUM_LABELS);
  const mask = new Float32Array(NUM_LABELS);
  labels.forEach((v: LabelValue, i) => {
    if (v === 1 || v === 0) {
      target[i] = v;
      mask[i] = 1;
    } else if (v === -1 && uncertain !== "ignore") {
      target[i] = uncertain === "positive" ? 1 : 0;
      mask[i] = 1;
    }
  });
  return { target, mask };
}

export interface TrainBatch {
  ids: string[];
  pixels: tf.Tensor4D; // [B, H, W, C]
  inputIds: tf.Tensor2D; // [B, T] int32
  attentionMask: tf.Tensor2D; // [B, T]
  targets: tf.Tensor2D; // [B, T] int32, inputIds shifted left by one
  lossMask: tf.Tensor2D; // [B, T]
  clsTargets: tf.Tensor2D; // [B, 14]
  clsMask: tf.Tensor2D; // [B, 14]
  tokens: number;
  dispose(): void;
}

/** Greyscale images (one value per pixel) as the model's [B, H, W, C] input, repeated into C channels. */
export function pixelTensor(images: Float32Array[], imageSize: number, channels: number): tf.Tensor4D {
  const B = images.length;
  const pix = new Float32Array(B * imageSize * imageSize * channels);
  images.forEach((img, b) => {
    const base = b * imageSize * imageSize * channels;
    if (channels === 1) pix.set(img, base);
    else
      for (let i = 0; i < img.length; i++)
        for (let c = 0; c < channels; c++) pix[base + i * channels + c] = img[i];
  });
  return tf.tensor4d(pix, [B, imageSize, imageSize, channels]);
}

export function makeBatch(
  ids: string[],
  images: Float32Array[],
  imageSize: number,
  channels: number,
  encoded: EncodedExample[],
  cls: Array<{ target: Float32Array; mask: Float32Array }>,
): TrainBatch {
  const B = encoded.length;
  const T = encoded[0].ids.length;
  const inputIds = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const attention = new Float32Array(B * T);
  const lossMask = new Float32Array(B * T);
  let tokens = 0;
  encoded.forEach((e, b) => {
    inputIds.set(e.ids, b * T);
    targets.set(e.ids.subarray(1), b * T);
    targets[b * T + T - 1] = e.ids[T - 1];
    attention.set(e.attention, b * T);
    lossMask.set(e.lossMask, b * T);
    tokens += e.reportTokens;
  });
  const clsT = new Float32Array(B * NUM_LABELS);
  const clsM = new Float32Array(B * NUM_LABELS);
  cls.forEach((c, b) => {
    clsT.set(c.target, b * NUM_LABELS);
    clsM.set(c.mask, b * NUM_LABELS);
  });
  const batch: TrainBatch = {
    ids,
    pixels: pixelTensor(images, imageSize, channels),
    inputIds: tf.tensor2d(inputIds, [B, T], "int32"),
    attentionMask: tf.tensor2d(attention, [B, T]),
    targets: tf.tensor2d(targets, [B, T], "int32"),
    lossMask: tf.tensor2d(lossMask, [B, T]),
    clsTargets: tf.tensor2d(clsT, [B, NUM_LABELS]),
    clsMask: tf.tensor2d(clsM, [B, NUM_LABELS]),
    tokens,
    dispose() {
      tf.dispose([
        batch.pixels,
        batch.inputIds,
        batch.attentionMask,
        batch.targets,
        batch.lossMask,
        batch.clsTargets,
        batch.clsMask,
      ]);
    },
  };
  return batch;
}

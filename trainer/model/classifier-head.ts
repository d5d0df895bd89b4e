// The multitask head: 14 CheXpert logits from a pooled representation: the mean of the decoder's
// hidden states at the image-token positions, the mean of the projected image features, or (pooling
// "attention") one learned query per label attending over the image positions' hidden states, so each
// label pools from where its finding is (class-specific attention pooling, as in Zhu & Wu's CSRA and
// Ridnik et al.'s ML-Decoder). Mean pooling averages a focal finding away unless the tower was trained
// to keep it in the mean: on a captions-only base, linear probes of the mean image feature reach
// AUROC 0.53-0.77 per finding where probes of all image tokens reach 0.66-0.98 (trainer/train/README.md).
// On the shipped base, whose pretraining shapes the mean, `vision` pooling does best.
import * as tf from "@tensorflow/tfjs";
import type { HeadOptions } from "../../common/spec/index.js";
import type { ModelConfig } from "./config.js";
import { classifierInit } from "./weight-init.js";
import type { ClassifierSpec } from "./weight-table.js";
import type { WeightMap } from "./weight-map.js";

/** The attention query's name in adapters (a third tensor of the classifier's modules_to_save entry). */
export const QUERY_NAME = "classifier.query";

export class ClassifierHead {
  readonly weight: tf.Variable; // [D, L]
  readonly bias: tf.Variable; // [L]
  /** Pooling "attention" only: one query per label [L, D]; zeros (uniform attention, i.e. mean pooling) when new. */
  readonly query: tf.Variable | null;

  /** A checkpoint without a head (any Hugging Face one) gets a fresh head seeded by its name. */
  constructor(
    spec: ClassifierSpec,
    weights: WeightMap,
    private readonly config: ModelConfig,
    private readonly pooling: HeadOptions["pooling"],
    seed: number,
    id: number,
  ) {
    const [L, D] = spec.weight.shape;
    const w = weights.get(spec.weight.name)?.data ?? classifierInit(spec.weight.shape, seed); // [L, D]
    const b = weights.get(spec.bias.name)?.data ?? new Float32Array(L); // [L]
    this.weight = tf.variable(tf.transpose(tf.tensor2d(w, [L, D])), true, `${spec.weight.name}#${id}`); // [D, L]
    this.bias = tf.variable(tf.tensor1d(b), true, `${spec.bias.name}#${id}`); // [L]
    this.query =
      pooling === "attention"
        ? tf.variable(tf.zeros([L, D]), true, `${QUERY_NAME}#${id}`) // [L, D]
        : null;
  }

  /** hidden [B, T, D], inputIds [B, T], imageEmbeds [B, M, D] → logits [B, L]. */
  forward(hidden: tf.Tensor3D, inputIds: tf.Tensor2D, imageEmbeds: tf.Tensor3D): tf.Tensor2D {
    if (this.query) return this.attentionLogits(hidden, inputIds, this.query);
    let pooled: tf.Tensor2D;
    if (this.pooling === "vision") {
      pooled = tf.mean(imageEmbeds, 1) as tf.Tensor2D; // [B, D]
    } else {
      const isImage = tf.cast(tf.equal(inputIds, this.config.image_token_index), "float32").expandDims(2); // [B, T, 1]
      pooled = tf.div(tf.sum(tf.mul(hidden, isImage), 1), tf.maximum(tf.sum(isImage, 1), 1)) as tf.Tensor2D; // [B, D]
    }
    return tf.add(tf.matMul(pooled, this.weight), this.bias) as tf.Tensor2D; // [B, L]
  }

  /** Per label l: softmax over image positions t of q_l·h_t/√D, pooled p_l = Σ_t a_lt h_t, logit w_l·p_l + b_l. */
  private attentionLogits(hidden: tf.Tensor3D, inputIds: tf.Tensor2D, query: tf.Variable): tf.Tensor2D {
    const D = hidden.shape[2];
    const isImage = tf.equal(inputIds, this.config.image_token_index).expandDims(1); // [B, 1, T]
    const scores = tf.div(
      tf.matMul(tf.expandDims(query, 0).tile([hidden.shape[0], 1, 1]), hidden, false, true),
      Math.sqrt(D),
    ); // [B, L, T]
    const masked = tf.where(tf.broadcastTo(isImage, scores.shape), scores, tf.fill(scores.shape, -1e9)); // [B, L, T]
    const pooled = tf.matMul(tf.softmax(masked), hidden); // [B, L, D]
    const wT = tf.transpose(this.weight); // [L, D]
    return tf.add(tf.sum(tf.mul(pooled, wT), 2), this.bias) as tf.Tensor2D; // [B, L]
  }

  /** The weight in PyTorch layout [L, D] and the bias, as saved. */
  floatValues(): { weight: Float32Array; bias: Float32Array } {
    return {
      weight: tf.tidy(() => tf.transpose(this.weight)).dataSync() as Float32Array,
      bias: this.bias.dataSync() as Float32Array,
    };
  }

  trainableVariables(): tf.Variable[] {
    return this.query ? [this.weight, this.bias, this.query] : [this.weight, this.bias];
  }

  dispose(): void {
    tf.dispose(this.trainableVariables());
  }
}

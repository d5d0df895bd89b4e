// The multitask head: 14 CheXpert logits from a pooled representation, either the decoder's hidden
// states at the image-token positions or the projected image features themselves.
import * as tf from "@tensorflow/tfjs";
import type { HeadOptions } from "../../common/spec/index.js";
import type { ModelConfig } from "./config.js";
import { classifierInit } from "./weight-init.js";
import type { ClassifierSpec } from "./weight-table.js";
import type { WeightMap } from "./weight-map.js";

export class ClassifierHead {
  readonly weight: tf.Variable; // [D, L]
  readonly bias: tf.Variable; // [L]

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
  }

  /** hidden [B, T, D], inputIds [B, T], imageEmbeds [B, M, D] → logits [B, L]. */
  forward(hidden: tf.Tensor3D, inputIds: tf.Tensor2D, imageEmbeds: tf.Tensor3D): tf.Tensor2D {
    let pooled: tf.Tensor2D;
    if (this.pooling === "vision") {
      pooled = tf.mean(imageEmbeds, 1) as tf.Tensor2D; // [B, D]
    } else {
      const isImage = tf.cast(tf.equal(inputIds, this.config.image_token_index), "float32").expandDims(2); // [B, T, 1]
      pooled = tf.div(tf.sum(tf.mul(hidden, isImage), 1), tf.maximum(tf.sum(isImage, 1), 1)) as tf.Tensor2D; // [B, D]
    }
    return tf.add(tf.matMul(pooled, this.weight), this.bias) as tf.Tensor2D; // [B, L]
  }

  /** The weight in PyTorch layout [L, D] and the bias, as saved. */
  floatValues(): { weight: Float32Array; bias: Float32Array } {
    return {
      weight: tf.tidy(() => tf.transpose(this.weight)).dataSync() as Float32Array,
      bias: this.bias.dataSync() as Float32Array,
    };
  }

  trainableVariables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  dispose(): void {
    tf.dispose([this.weight, this.bias]);
  }
}

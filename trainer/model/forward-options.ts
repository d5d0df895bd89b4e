// What every module's forward takes besides its input.
import type * as tf from "@tensorflow/tfjs";
export interface ForwardOptions {
  training: boolean;
  /**
   * The step's dropout seed. Each adapter mixes it with its own module path, so a layer's mask
   * depends on the seed and its name only, not on which layers ran before it.
   */
  dropoutSeed?: number;
}

/** What the network's full forward returns. */
export interface ForwardOutput {
  logits: tf.Tensor3D; // [B, T, V]
  clsLogits: tf.Tensor2D; // [B, L]
  /** The projected image features the decoder read, [B, M, D] (pretraining's tagging objective pools them). */
  imageEmbeds: tf.Tensor3D;
}

// The multitask loss: causal LM cross-entropy on report tokens + λ · BCE on the 14 labels.
// Token targets are picked with a one-hot product rather than a gather, so the backward pass needs
// no UnsortedSegmentSum (missing from the wasm backend).
import * as tf from "@tensorflow/tfjs";

/**
 * Mean cross-entropy over positions where `mask` is 1.
 * logits [B, T, V]; targets [B, T] int32 (token at t+1, already shifted); mask [B, T] float32.
 */
export function maskedCrossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const vocab = logits.shape[2];
    const logProbs = tf.logSoftmax(logits); // [B, T, V]
    const onehot = tf.oneHot(targets, vocab); // [B, T, V]
    const tokenLoss = tf.neg(tf.sum(tf.mul(logProbs, onehot), -1)); // [B, T]
    const total = tf.sum(tf.mul(tokenLoss, mask));
    return tf.div(total, tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

/**
 * Mean binary cross-entropy with logits over entries where `mask` is 1 (blank labels and, under
 * the U-Ignore policy, uncertain ones are masked). logits, targets, mask: [B, 14].
 */
export function maskedBce(logits: tf.Tensor2D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    // Numerically stable form: max(x, 0) - x·z + log(1 + exp(-|x|)).
    const perEntry = tf.add(
      tf.sub(tf.relu(logits), tf.mul(logits, targets)),
      tf.log1p(tf.exp(tf.neg(tf.abs(logits)))),
    );
    return tf.div(tf.sum(tf.mul(perEntry, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

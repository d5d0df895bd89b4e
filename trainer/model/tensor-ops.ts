// The stateless pieces of the network's maths: norms, activations, rotary embedding, key/value
// head repetition and the causal mask. Each matches transformers' definition op for op.
import * as tf from "@tensorflow/tfjs";

/** LayerNorm over the last axis: (x − mean) / √(var + eps) · γ + β. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta) as tf.Tensor3D;
}

/** RMSNorm over the last axis: x / √(mean(x²) + eps) · w. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor3D {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), weight) as tf.Tensor3D;
}

/** GELU, tanh approximation (SigLIP's gelu_pytorch_tanh). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

/** GELU with the exact erf (the projector's "gelu"). */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** SiLU(gate) · up: the SwiGLU MLP's hidden activation. */
export function swiGlu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}

/** Rotary tables for positions pos0 … pos0+T-1: cos, sin [T, hd] (frequencies repeated twice, as HF). */
export function rope(
  pos0: number,
  T: number,
  hd: number,
  theta: number,
): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = hd / 2;
  const ang = new Float32Array(T * hd);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const invFreq = Math.fround(1 / Math.pow(theta, (2 * i) / hd));
      const a = Math.fround((pos0 + t) * invFreq);
      ang[t * hd + i] = a;
      ang[t * hd + i + half] = a;
    }
  }
  const angles = tf.tensor2d(ang, [T, hd]);
  return { cos: tf.cos(angles), sin: tf.sin(angles) };
}

/** x [B, H, T, hd]: x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1]. */
export function applyRope(x: tf.Tensor, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const hd = x.shape[3]!;
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
}

/** [B, KV, S, hd] → [B, KV·rep, S, hd], each key/value head serving `rep` consecutive query heads. */
export function repeatKv(x: tf.Tensor, rep: number): tf.Tensor {
  if (rep === 1) return x;
  const KV = x.shape[1]!;
  // Slices and a concat rather than tile (no rank-5 tile gradient) or gather (no wasm scatter).
  const heads: tf.Tensor[] = [];
  for (let h = 0; h < KV; h++) {
    const one = x.slice([0, h, 0, 0], [-1, 1, -1, -1]);
    for (let r = 0; r < rep; r++) heads.push(one);
  }
  return tf.concat(heads, 1);
}

/** Additive causal mask [T, pos0+T]: the query at pos0+i sees keys 0 … pos0+i. */
export function causalMask(pos0: number, T: number): tf.Tensor2D {
  const qi = tf.add(tf.range(0, T, 1, "int32"), pos0).expandDims(1); // [T, 1]
  const kj = tf.range(0, pos0 + T, 1, "int32").expandDims(0); // [1, S]
  return tf.mul(tf.cast(tf.greater(kj, qi), "float32"), -1e9) as tf.Tensor2D; // [T, S]
}

// The SigLIP vision tower: pixels → patch embeddings + learned positions → pre-norm encoder layers
// (multi-head attention, GELU-tanh MLP), read at the configured feature layer.
import * as tf from "@tensorflow/tfjs";
import { patchesPerSide, type ModelConfig, type VisionConfig } from "./config.js";
import type { ForwardOptions } from "./forward-options.js";
import type { Linear } from "./linear-layers.js";
import { LayerNorm } from "./norm-layers.js";
import type { ParameterStore } from "./parameter-store.js";
import { geluTanh } from "./tensor-ops.js";
import type { VisionLayerSpec, VisionTowerSpec } from "./weight-table.js";

class SiglipAttention {
  private readonly q: Linear;
  private readonly k: Linear;
  private readonly v: Linear;
  private readonly out: Linear;
  constructor(
    spec: VisionLayerSpec,
    store: ParameterStore,
    private readonly heads: number,
  ) {
    this.q = store.linear(spec.q);
    this.k = store.linear(spec.k);
    this.v = store.linear(spec.v);
    this.out = store.linear(spec.out);
  }

  forward(x: tf.Tensor3D, o: ForwardOptions): tf.Tensor {
    const [B, N, D] = x.shape;
    const H = this.heads;
    const hd = D / H;
    const split = (t: tf.Tensor) => t.reshape([B, N, H, hd]).transpose([0, 2, 1, 3]); // [B, H, N, hd]
    const q = split(this.q.apply(x, o)); // [B, H, N, hd]
    const k = split(this.k.apply(x, o)); // [B, H, N, hd]
    const v = split(this.v.apply(x, o)); // [B, H, N, hd]
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd))); // [B, H, N, N]
    const ctx = tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B, N, D]); // [B, N, D]
    return this.out.apply(ctx, o); // [B, N, D]
  }
}

class SiglipMlp {
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  constructor(spec: VisionLayerSpec, store: ParameterStore) {
    this.fc1 = store.linear(spec.fc1);
    this.fc2 = store.linear(spec.fc2);
  }

  forward(x: tf.Tensor, o: ForwardOptions): tf.Tensor {
    return this.fc2.apply(geluTanh(this.fc1.apply(x, o)), o); // [B, N, D]
  }
}

export class VisionEncoderLayer {
  private readonly layerNorm1: LayerNorm;
  private readonly attention: SiglipAttention;
  private readonly layerNorm2: LayerNorm;
  private readonly mlp: SiglipMlp;
  constructor(spec: VisionLayerSpec, store: ParameterStore, v: VisionConfig) {
    this.layerNorm1 = new LayerNorm(spec.layerNorm1, store, v.layer_norm_eps);
    this.attention = new SiglipAttention(spec, store, v.num_attention_heads);
    this.layerNorm2 = new LayerNorm(spec.layerNorm2, store, v.layer_norm_eps);
    this.mlp = new SiglipMlp(spec, store);
  }

  forward(x: tf.Tensor3D, o: ForwardOptions): tf.Tensor3D {
    const h = tf.add(x, this.attention.forward(this.layerNorm1.forward(x), o)) as tf.Tensor3D; // [B, N, D]
    return tf.add(h, this.mlp.forward(this.layerNorm2.forward(h), o)) as tf.Tensor3D; // [B, N, D]
  }
}

export class VisionTower {
  private readonly v: VisionConfig;
  private readonly patchKernel: tf.Tensor; // [D_v, C, p, p]
  private readonly patchBias: tf.Tensor; // [D_v]
  private readonly positions: tf.Tensor; // [N, D_v]
  private readonly layers: VisionEncoderLayer[];
  /** Encoder layers run: up to the feature layer (hidden_states[k] is the output of layer k). */
  private readonly layersRun: number;
  private readonly dropFirstToken: boolean;

  constructor(spec: VisionTowerSpec, store: ParameterStore, config: ModelConfig) {
    this.v = config.vision_config;
    this.patchKernel = store.tensor(spec.patchWeight);
    this.patchBias = store.tensor(spec.patchBias);
    this.positions = store.tensor(spec.positions);
    this.layers = spec.layers.map((l) => new VisionEncoderLayer(l, store, this.v));
    // hidden_states as Hugging Face counts them: [embeddings, layer 1 … layer L]; post_layernorm
    // only applies to last_hidden_state, which LLaVA does not use.
    const L = this.v.num_hidden_layers;
    const f = config.vision_feature_layer;
    this.layersRun = L + 1 + (f < 0 ? f : f - L - 1);
    this.dropFirstToken = config.vision_feature_select_strategy === "default";
  }

  /** pixels [B, H, W, C] at the tower's image_size → image features [B, N, D_v]. */
  forward(pixels: tf.Tensor4D, o: ForwardOptions): tf.Tensor3D {
    const v = this.v;
    const p = v.patch_size;
    const g = patchesPerSide(v);
    const B = pixels.shape[0];
    const C = v.num_channels;
    // A stride-p convolution never reads the pixels past the last whole patch (384 px, p = 14: 6 of them).
    const seen =
      g * p === v.image_size ? pixels : (pixels.slice([0, 0, 0, 0], [-1, g * p, g * p, -1]) as tf.Tensor4D); // [B, g·p, g·p, C]
    // Patch embedding as reshape + matmul: the conv kernel [D, C, p, p] flattened to [D, C·p·p]
    // against patches flattened in the same (C, row, col) order. No Conv2DBackpropFilter needed.
    const patches = seen
      .reshape([B, g, p, g, p, C])
      .transpose([0, 1, 3, 5, 2, 4]) // [B, gh, gw, C, p, p]
      .reshape([B, g * g, C * p * p]); // [B, N, C·p·p]
    const kernel = this.patchKernel.reshape([v.hidden_size, -1]); // [D_v, C·p·p]
    const embedded = tf
      .matMul(patches.reshape([B * g * g, -1]), kernel, false, true)
      .reshape([B, g * g, v.hidden_size]); // [B, N, D_v]
    let h = tf.add(tf.add(embedded, this.patchBias), this.positions) as tf.Tensor3D; // [B, N, D_v]
    for (const layer of this.layers.slice(0, this.layersRun)) h = layer.forward(h, o); // [B, N, D_v]
    return this.dropFirstToken ? (h.slice([0, 1, 0], [-1, -1, -1]) as tf.Tensor3D) : h; // [B, N', D_v]
  }
}

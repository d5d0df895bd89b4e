// The Qwen2 language model: token embeddings with the image's features placed at the image-token
// positions, the decoder layers, the final RMSNorm and the (possibly tied) LM head.
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig, TextConfig } from "./config.js";
import { DecoderLayer, type KvCache } from "./decoder-layer.js";
import type { ForwardOptions } from "./forward-options.js";
import { RmsNorm } from "./norm-layers.js";
import type { ParameterStore } from "./parameter-store.js";
import { causalMask, rope } from "./tensor-ops.js";
import type { LanguageModelSpec } from "./weight-table.js";

export class LanguageModel {
  private readonly t: TextConfig;
  private readonly imageTokenId: number;
  private readonly embedTokens: tf.Tensor; // [V, D]
  private readonly layers: DecoderLayer[];
  private readonly norm: RmsNorm;
  private readonly lmHeadWeight: tf.Tensor; // [V, D], embed_tokens when tied

  constructor(
    spec: LanguageModelSpec,
    store: ParameterStore,
    config: ModelConfig,
    /** Embed by one-hot matmul instead of gather, whose gradient (UnsortedSegmentSum) wasm lacks: for a training table. */
    private readonly oneHotEmbedding: boolean,
  ) {
    this.t = config.text_config;
    this.imageTokenId = config.image_token_index;
    this.embedTokens = store.tensor(spec.embedTokens);
    this.layers = spec.layers.map((l, i) => new DecoderLayer(l, store, this.t, i));
    this.norm = new RmsNorm(spec.norm, store, this.t.rms_norm_eps);
    this.lmHeadWeight = spec.lmHead ? store.tensor(spec.lmHead) : this.embedTokens;
  }

  /** Token embeddings [B, T, D] with projected image features [B, M, D] placed at the image-token positions. */
  embed(inputIds: tf.Tensor2D, imageEmbeds: tf.Tensor3D | null): tf.Tensor3D {
    const [B, T] = inputIds.shape;
    const D = this.t.hidden_size;
    const table = this.embedTokens; // [V, D]
    const flat = inputIds.reshape([-1]) as tf.Tensor1D; // [B·T]
    const rows = this.oneHotEmbedding
      ? tf.matMul(tf.oneHot(flat, table.shape[0]!), table)
      : tf.gather(table, flat); // [B·T, D]
    const text = rows.reshape([B, T, D]); // [B, T, D]
    if (!imageEmbeds) return text as tf.Tensor3D;
    const N = imageEmbeds.shape[1];
    const isImage = tf.cast(tf.equal(inputIds, this.imageTokenId), "float32"); // [B, T]
    // Every row must hold exactly one image's features' worth of image tokens (transformers raises
    // the same way): more would get zero features, fewer would drop some, both silently.
    const perRow = tf.tidy(() => tf.sum(isImage, 1).dataSync());
    const bad = Array.from(perRow).findIndex((n) => n !== N);
    if (bad >= 0)
      throw new Error(
        `prompt row ${bad} holds ${perRow[bad]} image tokens (id ${this.imageTokenId}); the image gives ${N} features`,
      );
    // The k-th image token of a row takes the row's k-th image feature. A one-hot selection matrix
    // and a matmul do the placement, so the backward pass needs no scatter kernel.
    const ordinal = tf.cast(tf.sub(tf.cumsum(isImage, 1), 1), "int32"); // [B, T]
    const select = tf.mul(tf.oneHot(tf.maximum(ordinal, tf.scalar(0, "int32")), N), isImage.expandDims(2)); // [B, T, N]
    const placed = tf.matMul(select, imageEmbeds); // [B, T, D]
    return tf.add(tf.mul(text, tf.sub(1, isImage).expandDims(2)), placed) as tf.Tensor3D; // [B, T, D]
  }

  /** Runs the decoder on embeddings [B, T, D] starting at absolute position `pos0`, extending `cache` if given. Returns normed hidden states [B, T, D]. */
  decode(x: tf.Tensor3D, pos0: number, o: ForwardOptions, cache?: KvCache): tf.Tensor3D {
    const T = x.shape[1];
    const hd = this.t.hidden_size / this.t.num_attention_heads;
    const { cos, sin } = rope(pos0, T, hd, this.t.rope_theta); // [T, hd]
    const pass = { cos, sin, mask: causalMask(pos0, T), cache }; // mask [T, pos0 + T]
    let h = x; // [B, T, D]
    for (const layer of this.layers) h = layer.forward(h, pass, o); // [B, T, D]
    if (cache) cache.length = pos0 + T;
    return this.norm.forward(h); // [B, T, D]
  }

  /** hidden [B, T, D] → logits [B, T, V] */
  lmHead(hidden: tf.Tensor3D): tf.Tensor3D {
    const [B, T, D] = hidden.shape;
    return tf
      .matMul(hidden.reshape([B * T, D]), this.lmHeadWeight, false, true)
      .reshape([B, T, -1]) as tf.Tensor3D; // [B, T, V]
  }
}

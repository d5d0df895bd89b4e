// One Qwen2 decoder layer: pre-RMSNorm grouped-query attention with rotary positions and an
// optional key/value cache, then a pre-RMSNorm SwiGLU MLP, each added to the residual stream.
import * as tf from "@tensorflow/tfjs";
import type { TextConfig } from "./config.js";
import type { ForwardOptions } from "./forward-options.js";
import type { Linear } from "./linear-layers.js";
import { RmsNorm } from "./norm-layers.js";
import type { ParameterStore } from "./parameter-store.js";
import { applyRope, repeatKv, swiGlu } from "./tensor-ops.js";
import type { DecoderLayerSpec } from "./weight-table.js";

/** Per-layer key/value cache for incremental decoding: [B, kvHeads, T_past, headDim]. */
export interface KvCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
  length: number;
}

/** What every layer of one decoder pass shares: rotary tables and the causal mask. */
export interface DecoderPass {
  cos: tf.Tensor2D; // [T, hd]
  sin: tf.Tensor2D; // [T, hd]
  mask: tf.Tensor2D; // [T, S], S = past + T
  cache?: KvCache;
}

class GroupedQueryAttention {
  private readonly q: Linear;
  private readonly k: Linear;
  private readonly v: Linear;
  private readonly o: Linear;
  private readonly heads: number;
  private readonly kvHeads: number;
  constructor(
    spec: DecoderLayerSpec,
    store: ParameterStore,
    t: TextConfig,
    /** This layer's slot in the key/value cache. */
    private readonly index: number,
  ) {
    this.q = store.linear(spec.q);
    this.k = store.linear(spec.k);
    this.v = store.linear(spec.v);
    this.o = store.linear(spec.o);
    this.heads = t.num_attention_heads;
    this.kvHeads = t.num_key_value_heads;
  }

  forward(x: tf.Tensor3D, pass: DecoderPass, o: ForwardOptions): tf.Tensor {
    const [B, T, D] = x.shape;
    const H = this.heads;
    const KV = this.kvHeads;
    const hd = D / H;
    const heads = (t: tf.Tensor, n: number) => t.reshape([B, T, n, hd]).transpose([0, 2, 1, 3]); // [B, n, T, hd]
    const q = applyRope(heads(this.q.apply(x, o), H), pass.cos, pass.sin); // [B, H, T, hd]
    let k = applyRope(heads(this.k.apply(x, o), KV), pass.cos, pass.sin); // [B, KV, T, hd]
    let v = heads(this.v.apply(x, o), KV) as tf.Tensor4D; // [B, KV, T, hd]
    if (pass.cache) [k, v] = this.extendCache(pass.cache, k, v); // [B, KV, S, hd]
    const kr = repeatKv(k, H / KV); // [B, H, S, hd]
    const vr = repeatKv(v, H / KV); // [B, H, S, hd]
    const scores = tf.add(tf.mul(tf.matMul(q, kr, false, true), 1 / Math.sqrt(hd)), pass.mask); // [B, H, T, S]
    const ctx = tf.matMul(tf.softmax(scores), vr).transpose([0, 2, 1, 3]).reshape([B, T, D]); // [B, T, D]
    return this.o.apply(ctx, o); // [B, T, D]
  }

  /** Appends this step's keys and values to the cache; returns the whole sequence's. */
  private extendCache(cache: KvCache, k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    const i = this.index;
    if (cache.k[i]) {
      const pastK = cache.k[i];
      const pastV = cache.v[i];
      k = tf.concat([pastK, k], 2); // [B, KV, S, hd]
      v = tf.concat([pastV, v], 2); // [B, KV, S, hd]
      tf.dispose([pastK, pastV]);
    }
    cache.k[i] = tf.keep(k);
    cache.v[i] = tf.keep(v);
    return [k, v];
  }
}

class SwiGluMlp {
  private readonly gate: Linear;
  private readonly up: Linear;
  private readonly down: Linear;
  constructor(spec: DecoderLayerSpec, store: ParameterStore) {
    this.gate = store.linear(spec.gate);
    this.up = store.linear(spec.up);
    this.down = store.linear(spec.down);
  }

  forward(x: tf.Tensor, o: ForwardOptions): tf.Tensor {
    const gate = this.gate.apply(x, o); // [B, T, F]
    const up = this.up.apply(x, o); // [B, T, F]
    return this.down.apply(swiGlu(gate, up), o); // [B, T, D]
  }
}

export class DecoderLayer {
  private readonly inputNorm: RmsNorm;
  private readonly attention: GroupedQueryAttention;
  private readonly postAttentionNorm: RmsNorm;
  private readonly mlp: SwiGluMlp;
  constructor(spec: DecoderLayerSpec, store: ParameterStore, t: TextConfig, index: number) {
    this.inputNorm = new RmsNorm(spec.inputNorm, store, t.rms_norm_eps);
    this.attention = new GroupedQueryAttention(spec, store, t, index);
    this.postAttentionNorm = new RmsNorm(spec.postAttentionNorm, store, t.rms_norm_eps);
    this.mlp = new SwiGluMlp(spec, store);
  }

  forward(x: tf.Tensor3D, pass: DecoderPass, o: ForwardOptions): tf.Tensor3D {
    const h = tf.add(x, this.attention.forward(this.inputNorm.forward(x), pass, o)) as tf.Tensor3D; // [B, T, D]
    return tf.add(h, this.mlp.forward(this.postAttentionNorm.forward(h), o)) as tf.Tensor3D; // [B, T, D]
  }
}

// The decoder's view for generation: the prompt (image features + instruction) is encoded once
// into a key/value cache; each new token then costs one position per layer. Without the cache the
// whole sequence is recomputed every step: slower, and what tests check the cache against.
import * as tf from "@tensorflow/tfjs";
import type { KvCache, LlavaNetwork } from "./llava-network.js";

/** Runs the model on the whole prompt; returns the last position's logits [B, V] and the cache. */
function prefill(
  model: LlavaNetwork,
  pixels: tf.Tensor4D,
  ids: number[][],
  cache: KvCache | undefined,
): Float32Array[] {
  return tf.tidy(() => {
    const B = ids.length;
    const T = ids[0].length;
    const input = tf.tensor2d(ids.flat(), [B, T], "int32");
    const image = model.imageEmbeds(pixels, { training: false });
    const hidden = model.decode(model.embed(input, image), 0, { training: false }, cache);
    const last = hidden.slice([0, T - 1, 0], [B, 1, -1]) as tf.Tensor3D;
    const logits = model.lmHead(last).reshape([B, -1]).arraySync() as number[][];
    return logits.map((r) => Float32Array.from(r));
  });
}

function step(model: LlavaNetwork, tokens: number[], pos: number, cache: KvCache): Float32Array[] {
  return tf.tidy(() => {
    const x = model.embed(tf.tensor2d(tokens, [tokens.length, 1], "int32"), null);
    const hidden = model.decode(x, pos, { training: false }, cache);
    return (model.lmHead(hidden).reshape([tokens.length, -1]).arraySync() as number[][]).map((r) =>
      Float32Array.from(r),
    );
  });
}

function disposeCache(c: KvCache | undefined): void {
  if (c) tf.dispose([...c.k, ...c.v]);
}

/** Next-token logits for every row, either from the cache or by re-running the full sequence. */
export class Stepper {
  private cache: KvCache | undefined;
  constructor(
    private readonly model: LlavaNetwork,
    private readonly pixels: tf.Tensor4D,
    private readonly useCache: boolean,
  ) {}

  start(ids: number[][]): Float32Array[] {
    this.cache = this.useCache ? { k: [], v: [], length: 0 } : undefined;
    return prefill(this.model, this.pixels, ids, this.cache);
  }

  /** `rows[i]` is the full sequence of row i; `parents[i]` the row whose cache it continues. */
  next(rows: number[][], parents: number[]): Float32Array[] {
    if (!this.cache) {
      const pix = tf.gather(this.pixels, parents);
      try {
        return prefill(this.model, pix as tf.Tensor4D, rows, undefined);
      } finally {
        pix.dispose();
      }
    }
    const c = this.cache;
    if (parents.some((p, i) => p !== i)) {
      const idx = tf.tensor1d(parents, "int32");
      for (let l = 0; l < c.k.length; l++) {
        const k = tf.gather(c.k[l], idx);
        const v = tf.gather(c.v[l], idx);
        tf.dispose([c.k[l], c.v[l]]);
        c.k[l] = k as tf.Tensor4D;
        c.v[l] = v as tf.Tensor4D;
      }
      idx.dispose();
    }
    return step(
      this.model,
      rows.map((r) => r[r.length - 1]),
      rows[0].length - 1,
      c,
    );
  }

  dispose(): void {
    disposeCache(this.cache);
  }
}

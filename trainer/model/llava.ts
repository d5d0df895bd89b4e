// A LLaVA-OneVision-style vision-language model with a multitask head, top to bottom:
//   SigLIP-style vision tower → two-layer MLP projector → Qwen2-style decoder → lm_head
//                                                                  ↘ pooled → 14-label classifier
// Weights use Hugging Face's names (the `model.language_model.…` layout; the older
// `language_model.model.…` layout is mapped on load). Linear layers named in the LoRA targets hold
// a frozen NF4 base and a trainable adapter; embeddings and norms are frozen float tensors. The only
// trainable tensors are the adapters and the classifier.
import * as tf from "@tensorflow/tfjs";
import { dequantizeNf4, LoraLinear, type LoraConfig, type Nf4Tensor } from "../qlora/index.js";
import { anyresLayout, anyresTiles, bilinearWeights, resizeSeparable } from "./anyres.js";
import { patchesPerSide, type ModelConfig } from "./config.js";
import { pipelineNormalization, pixelAffine, type ImageNormalization } from "./image-normalization.js";

export interface WeightEntry {
  shape: number[];
  data: Float32Array;
  /** Set when the checkpoint stores this linear weight in NF4 already. */
  nf4?: Nf4Tensor;
  /** The key in the checkpoint file, when it differs from the canonical name (for error messages). */
  sourceKey?: string;
}
export type WeightMap = Map<string, WeightEntry>;

export interface BuildOptions {
  quantization: {
    type: "nf4" | "none";
    blockSize: number;
    doubleQuant: boolean;
    /** Budget of cached float copies of NF4 weights (see LoraLinear); default 1024. */
    cacheDequantizedMiB?: number;
  };
  lora: LoraConfig & { targetModules: string[] };
  pooling: "image_tokens" | "vision";
  seed: number;
  /** Every weight a float variable, no LoRA, embeddings by one-hot matmul (pretraining the tiny base). */
  trainBase?: boolean;
  /**
   * What the vision tower expects (preprocessor_config.json's image_mean / image_std). The model is
   * given pixels in the data pipeline's normalisation and converts them (towerPixels). Default: the
   * pipeline's own (no conversion).
   */
  imageNormalization?: ImageNormalization;
}

export interface ForwardBatch {
  pixels: tf.Tensor4D; // [B, H, W, C] in the data pipeline's normalisation: one size for the batch; the tower's image_size unless anyres (image_grid_pinpoints)
  inputIds: tf.Tensor2D; // [B, T] int32
}

export interface ForwardOptions {
  training: boolean;
  dropoutSeed?: number;
}

/** Per-layer key/value cache for incremental decoding: [B, kvHeads, T_past, headDim]. */
export interface KvCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
  length: number;
}

const lastName = (path: string) => path.slice(path.lastIndexOf(".") + 1);

/** What the model needs of a linear layer: LoRA-wrapped frozen base, or fully trainable (trainBase). */
interface Linear {
  apply(x: tf.Tensor, opts: { training: boolean; dropoutSeed?: number }): tf.Tensor;
  trainableVariables(): tf.Variable[];
  dispose(): void;
}

/** A plain linear layer whose weight and bias are trainable variables: pretraining the tiny base. */
class FullLinear implements Linear {
  readonly weight: tf.Variable; // [out, in], PyTorch layout so saveBase writes it as is
  readonly bias: tf.Variable | null; // [out]
  constructor(name: string, shape: number[], w: Float32Array, b: Float32Array | undefined, id: number) {
    this.weight = tf.variable(tf.tensor2d(w, [shape[0], shape[1]]), true, `${name}.weight#${id}`);
    this.bias = b ? tf.variable(tf.tensor1d(b), true, `${name}.bias#${id}`) : null;
  }
  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const inF = this.weight.shape[1]!;
    let y = tf.matMul(x.reshape([-1, inF]), this.weight, false, true); // [N, out]
    if (this.bias) y = tf.add(y, this.bias);
    return y.reshape([...lead, this.weight.shape[0]!]);
  }
  trainableVariables(): tf.Variable[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }
  dispose(): void {
    tf.dispose(this.trainableVariables());
  }
}

/** Lists every missing, unexpected and mis-shaped tensor at once, so one run shows all problems. */
export function checkWeights(expected: Map<string, number[]>, weights: WeightMap, source: string): void {
  const optional = (k: string) => k.startsWith("classifier.");
  const missing = [...expected.keys()].filter((k) => !weights.has(k) && !optional(k));
  const stored = (k: string) => {
    const s = weights.get(k)?.sourceKey;
    return s && s !== k ? `${k} (stored as ${s})` : k;
  };
  const extra = [...weights.keys()].filter((k) => !expected.has(k)).map(stored);
  const misshaped = [...expected.entries()]
    .filter(([k, s]) => weights.has(k) && weights.get(k)!.shape.join("x") !== s.join("x"))
    .map(([k, s]) => `${stored(k)} (expected [${s.join(", ")}], got [${weights.get(k)!.shape.join(", ")}])`);
  if (missing.length || extra.length || misshaped.length) {
    const parts = [];
    if (missing.length) parts.push(`missing: ${missing.join(", ")}`);
    if (extra.length) parts.push(`unexpected: ${extra.join(", ")}`);
    if (misshaped.length) parts.push(`wrong shape: ${misshaped.join(", ")}`);
    throw new Error(
      `${source}: checkpoint does not match its config.json — ${parts.join("; ")}. ` +
        `Check that config.json belongs to these weights (sizes, layer counts, tie_word_embeddings).`,
    );
  }
}

export class LlavaModel {
  readonly config: ModelConfig;
  private readonly opts: BuildOptions;
  /** Float tensors that are not linear layers (embeddings, norms, position table, image_newline); variables when trainBase. */
  private readonly frozen = new Map<string, tf.Tensor>();
  private readonly linears = new Map<string, Linear>();
  /** The float biases of LoRA-wrapped layers (the layer keeps its own tensor copy). */
  private readonly linearBias = new Map<string, Float32Array>();
  readonly classifierW: tf.Variable; // [D, 14]
  readonly classifierB: tf.Variable; // [14]
  /** The tower's normalisation (image_mean / image_std per channel), what preprocessor_config.json gets on save. */
  readonly imageNormalization: ImageNormalization;
  /** pipeline → tower units, per channel (see pixelAffine). */
  private readonly pixelAffine: ReturnType<typeof pixelAffine>;
  private layerCounter = 0;
  private static instances = 0;

  constructor(config: ModelConfig, weights: WeightMap, opts: BuildOptions, source = "weights") {
    this.config = config;
    this.opts = opts;
    const C = config.vision_config.num_channels;
    this.imageNormalization = opts.imageNormalization ?? pipelineNormalization(C);
    const { imageMean, imageStd } = this.imageNormalization;
    if (imageMean.length !== C || imageStd.length !== C) {
      throw new Error(
        `${source}: image normalisation has ${imageMean.length} means and ${imageStd.length} stds, the vision tower ${C} channels (vision_config.num_channels)`,
      );
    }
    this.pixelAffine = pixelAffine(this.imageNormalization);
    const expected = expectedShapes(config);
    checkWeights(expected, weights, source);
    const id = LlavaModel.instances++;
    const trainBase = opts.trainBase === true;
    let cacheLeft = (opts.quantization.cacheDequantizedMiB ?? 1024) * 2 ** 20;
    // The same rule readCheckpointDir applies when it quantizes on load.
    const quantizeFor = quantizeOnLoad(opts);
    for (const [name, shape] of expected) {
      const w = weights.get(name);
      if (name.startsWith("classifier.") || !w) continue;
      if (isLinearWeight(name) && shape.length === 2) {
        const path = name.slice(0, -".weight".length);
        const bias = weights.get(`${path}.bias`)?.data;
        if (trainBase) {
          this.linears.set(
            path,
            new FullLinear(path, shape, w.nf4 ? dequantizeNf4(w.nf4) : w.data, bias, id),
          );
          continue;
        }
        const targeted = opts.lora.targetModules.includes(lastName(path));
        if (bias) this.linearBias.set(path, bias);
        const quantize = quantizeFor(name, shape);
        const nf4 = w.nf4 !== undefined || quantize !== null;
        // In this loop's order (expectedShapes: vision tower, projector, decoder), layers keep
        // their float copy while the budget lasts.
        const floatBytes = shape[0] * shape[1] * 4;
        const perCall = nf4 && floatBytes > cacheLeft;
        if (nf4 && !perCall) cacheLeft -= floatBytes;
        this.linears.set(
          path,
          new LoraLinear({
            name: path,
            inFeatures: shape[1],
            outFeatures: shape[0],
            weight: w.nf4 ?? w.data,
            bias,
            quantize,
            lora: targeted ? opts.lora : null,
            seed: hashSeed(opts.seed, path),
            dequantizePerCall: perCall,
          }),
        );
      } else if (!(name.endsWith(".bias") && isLinearWeight(`${name.slice(0, -".bias".length)}.weight`))) {
        const t = tf.tensor(w.data, shape);
        // LLaVA reads the tower's hidden states before post_layernorm, so that norm gets no gradient: keep it a constant.
        const asVariable = trainBase && !name.includes(".post_layernorm.");
        this.frozen.set(name, asVariable ? tf.variable(t, true, `${name}#${id}`) : t);
        if (asVariable) t.dispose();
      }
    }
    const D = config.text_config.hidden_size;
    const L = config.radfleet.num_labels;
    // A checkpoint without a head (any Hugging Face one) gets a fresh, seeded head.
    const cw =
      weights.get("classifier.weight")?.data ??
      normalInit([L, D], 0.02, hashSeed(opts.seed, "classifier.weight"));
    const cb = weights.get("classifier.bias")?.data ?? new Float32Array(L);
    this.classifierW = tf.variable(tf.transpose(tf.tensor2d(cw, [L, D])), true, `classifier.weight#${id}`); // [D, 14]
    this.classifierB = tf.variable(tf.tensor1d(cb), true, `classifier.bias#${id}`); // [14]
  }

  /** Image tokens per image presented at the tower's own resolution (see numImageTokensFor). */
  get numImageTokens(): number {
    const s = this.config.vision_config.image_size;
    return this.numImageTokensFor(s, s);
  }

  /**
   * Image tokens a prompt must hold for an image of height × width, as transformers'
   * LlavaOnevisionProcessor counts them: with image_grid_pinpoints, the base image's patches and the
   * packed anyres grid (see packImage); without (radfleet's tiny preset), the base image and one
   * image_newline, and the image must be at the tower's resolution.
   */
  numImageTokensFor(height: number, width: number): number {
    const g = patchesPerSide(this.config.vision_config);
    if (this.config.image_grid_pinpoints.length > 0)
      return anyresLayout(this.config, height, width).numImageTokens;
    this.checkTowerSize(height, width);
    return (this.config.vision_feature_select_strategy === "default" ? g * g - 1 : g * g) + 1;
  }

  private checkTowerSize(height: number, width: number): void {
    const s = this.config.vision_config.image_size;
    if (height !== s || width !== s) {
      throw new Error(
        `image ${height}×${width}: this model has no image_grid_pinpoints (no anyres tiling), so images must be ` +
          `${s}×${s}, the vision tower's image_size; set data.imageSize to ${s}`,
      );
    }
  }

  /** LoRA A/B in module order (vision, projector, language model), then the head; base weights too when trainBase. */
  trainableVariables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    if (this.opts.trainBase) for (const t of this.frozen.values()) if (t instanceof tf.Variable) vars.push(t);
    for (const l of this.linears.values()) vars.push(...l.trainableVariables());
    vars.push(this.classifierW, this.classifierB);
    return vars;
  }

  loraLayers(): LoraLinear[] {
    return [...this.linears.values()].filter(
      (l): l is LoraLinear => l instanceof LoraLinear && l.loraA !== null,
    );
  }

  /** Every weight as float32 in Hugging Face names and PyTorch layouts (LoRA merged in): for saveBase. */
  floatWeights(): Array<{ name: string; shape: number[]; data: Float32Array }> {
    const out: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
    for (const [name, shape] of expectedShapes(this.config)) {
      const path = name.replace(/\.(weight|bias)$/, "");
      const lin = this.linears.get(path);
      let data: Float32Array;
      if (name === "classifier.weight")
        data = tf.tidy(() => tf.transpose(this.classifierW)).dataSync() as Float32Array;
      else if (name === "classifier.bias") data = this.classifierB.dataSync() as Float32Array;
      else if (lin instanceof FullLinear)
        data = (name.endsWith(".weight") ? lin.weight : lin.bias!).dataSync() as Float32Array;
      else if (lin instanceof LoraLinear)
        data = name.endsWith(".weight") ? lin.merged() : this.linearBias.get(path)!;
      else data = this.w(name).dataSync() as Float32Array;
      out.push({ name, shape, data: Float32Array.from(data) });
    }
    return out;
  }

  private lin(path: string, x: tf.Tensor, o: ForwardOptions): tf.Tensor {
    const l = this.linears.get(path);
    if (!l) throw new Error(`no linear layer ${path}`);
    const seed =
      o.dropoutSeed === undefined ? undefined : (o.dropoutSeed + this.layerCounter++ * 7919) % 2147483647;
    return l.apply(x, { training: o.training, dropoutSeed: seed });
  }

  private w(name: string): tf.Tensor {
    const t = this.frozen.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  }

  // ---- vision tower (SigLIP) -------------------------------------------------------------------

  /** pixels [B, H, W, C] → image features [B, N, D_v] from the selected encoder layer. */
  visionFeatures(pixels: tf.Tensor4D, o: ForwardOptions): tf.Tensor3D {
    const v = this.config.vision_config;
    const p = v.patch_size;
    const g = patchesPerSide(v);
    const B = pixels.shape[0];
    const pre = "model.vision_tower.vision_model";
    // A stride-p convolution never reads the pixels past the last whole patch (384 px, p = 14: 6 of them).
    const seen =
      g * p === v.image_size ? pixels : (pixels.slice([0, 0, 0, 0], [-1, g * p, g * p, -1]) as tf.Tensor4D); // [B, g·p, g·p, C]
    // Patch embedding as reshape + matmul: the conv kernel [D, C, p, p] flattened to [D, C·p·p]
    // against patches flattened in the same (C, row, col) order. No Conv2DBackpropFilter needed.
    const patches = seen
      .reshape([B, g, p, g, p, v.num_channels])
      .transpose([0, 1, 3, 5, 2, 4]) // [B, gh, gw, C, p, p]
      .reshape([B, g * g, v.num_channels * p * p]); // [B, N, C·p·p]
    const kernel = this.w(`${pre}.embeddings.patch_embedding.weight`).reshape([v.hidden_size, -1]); // [D_v, C·p·p]
    let h = tf.add(
      tf.add(
        tf.matMul(patches.reshape([B * g * g, -1]), kernel, false, true).reshape([B, g * g, v.hidden_size]),
        this.w(`${pre}.embeddings.patch_embedding.bias`),
      ),
      this.w(`${pre}.embeddings.position_embedding.weight`),
    ) as tf.Tensor3D; // [B, N, D_v]
    // hidden_states as Hugging Face counts them: [embeddings, layer 1 … layer L]; post_layernorm only
    // applies to last_hidden_state, which LLaVA does not use.
    const wanted =
      v.num_hidden_layers +
      1 +
      (this.config.vision_feature_layer < 0
        ? this.config.vision_feature_layer
        : this.config.vision_feature_layer - v.num_hidden_layers - 1);
    for (let i = 0; i < wanted; i++) h = this.visionLayer(h, i, o);
    return this.config.vision_feature_select_strategy === "default"
      ? (h.slice([0, 1, 0], [-1, -1, -1]) as tf.Tensor3D)
      : h;
  }

  private visionLayer(x: tf.Tensor3D, i: number, o: ForwardOptions): tf.Tensor3D {
    const v = this.config.vision_config;
    const pre = `model.vision_tower.vision_model.encoder.layers.${i}`;
    const [B, N, D] = x.shape;
    const H = v.num_attention_heads;
    const hd = D / H;
    const n1 = layerNorm(
      x,
      this.w(`${pre}.layer_norm1.weight`),
      this.w(`${pre}.layer_norm1.bias`),
      v.layer_norm_eps,
    );
    const heads = (t: tf.Tensor) => t.reshape([B, N, H, hd]).transpose([0, 2, 1, 3]); // [B, H, N, hd]
    const q = heads(this.lin(`${pre}.self_attn.q_proj`, n1, o));
    const k = heads(this.lin(`${pre}.self_attn.k_proj`, n1, o));
    const vv = heads(this.lin(`${pre}.self_attn.v_proj`, n1, o));
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd))); // [B, H, N, N]
    const ctx = tf.matMul(att, vv).transpose([0, 2, 1, 3]).reshape([B, N, D]); // [B, N, D]
    const h = tf.add(x, this.lin(`${pre}.self_attn.out_proj`, ctx, o)) as tf.Tensor3D;
    const n2 = layerNorm(
      h,
      this.w(`${pre}.layer_norm2.weight`),
      this.w(`${pre}.layer_norm2.bias`),
      v.layer_norm_eps,
    );
    const m = this.lin(`${pre}.mlp.fc2`, geluTanh(this.lin(`${pre}.mlp.fc1`, n2, o)), o);
    return tf.add(h, m) as tf.Tensor3D;
  }

  // ---- projector -----------------------------------------------------------------------------

  /** [B, N, D_v] → [B, N, D] */
  project(features: tf.Tensor3D, o: ForwardOptions): tf.Tensor3D {
    const h = this.lin("model.multi_modal_projector.linear_1", features, o);
    return this.lin("model.multi_modal_projector.linear_2", geluErf(h), o) as tf.Tensor3D;
  }

  /**
   * Pixels [B, H, W, C] in the data pipeline's normalisation → the same in the tower's
   * (imageNormalization): x·scale[c] + shift[c]. The pixels themselves when the two agree (the tiny
   * preset). Anyres resizing and padding come after, in the tower's units, as in the processor
   * (which resizes and pads raw pixels, then normalises; resizing commutes with the affine).
   */
  towerPixels(pixels: tf.Tensor4D): tf.Tensor4D {
    const { scale, shift, identity } = this.pixelAffine;
    if (identity) return pixels;
    const C = pixels.shape[3];
    if (C !== scale.length)
      throw new Error(
        `pixels have ${C} channels, the vision tower takes ${scale.length} (vision_config.num_channels)`,
      );
    return tf.add(tf.mul(pixels, tf.tensor1d(scale)), tf.tensor1d(shift)) as tf.Tensor4D; // [B, H, W, C]
  }

  /**
   * The processor's pixel_values for pixels [B, H, W, C] of original size H × W, in the tower's
   * normalisation (towerPixels): [B, 1 + tiles, s, s, C], the whole image resized to the tower's
   * s × s, then the anyres tiles (see anyres.ts), padded with black in the tower's units.
   */
  imageTiles(pixels: tf.Tensor4D): tf.Tensor5D {
    const [, H, W] = pixels.shape;
    const s = this.config.vision_config.image_size;
    return anyresTiles(pixels, anyresLayout(this.config, H, W), s, this.pixelAffine.black);
  }

  /**
   * Lays out the projected features of one image per row as LLaVA-OneVision feeds them to the
   * decoder (Hugging Face's pack_image_features). features [B, 1 + tiles, N, D] (base image first,
   * tiles row by row) of images of original size height × width. Without image_grid_pinpoints
   * (radfleet's tiny preset, and Hugging Face's multi-image path) there are no tiles: the base
   * image's N features and one image_newline. With them: the base image's N features, then the
   * tiles' features as one grid, unpadded to the original aspect, shrunk bilinearly by the
   * anyres_max_N rule, each row closed by image_newline.
   */
  packImage(features: tf.Tensor4D, height: number, width: number): tf.Tensor3D {
    const [B, , N, D] = features.shape;
    const newline = this.w("model.image_newline"); // [D]
    const base = features.slice([0, 0, 0, 0], [-1, 1, -1, -1]).reshape([B, N, D]); // [B, N, D]
    if (this.config.image_grid_pinpoints.length === 0) {
      return tf.concat([base, tf.broadcastTo(newline.reshape([1, 1, D]), [B, 1, D])], 1) as tf.Tensor3D; // [B, N+1, D]
    }
    const L = anyresLayout(this.config, height, width);
    const g = patchesPerSide(this.config.vision_config);
    if (N !== g * g) {
      throw new Error(
        `anyres packing needs ${g}×${g} features per tile, got ${N} (vision_feature_select_strategy "full")`,
      );
    }
    const [nr, nc] = [L.gridRows, L.gridCols];
    let grid = features
      .slice([0, 1, 0, 0], [-1, nr * nc, -1, -1]) // [B, tiles, N, D]
      .reshape([B, nr, nc, g, g, D])
      .transpose([0, 1, 3, 2, 4, 5]) // [B, nr, g, nc, g, D]
      .reshape([B, nr * g, nc * g, D]) as tf.Tensor4D; // [B, rows, cols, D]
    const [r0, r1] = L.keepRows;
    const [c0, c1] = L.keepCols;
    grid = grid.slice([0, r0, c0, 0], [-1, r1 - r0, c1 - c0, -1]); // [B, kept rows, kept cols, D]
    if (L.outRows !== r1 - r0 || L.outCols !== c1 - c0) {
      grid = resizeSeparable(grid, L.outRows, L.outCols, bilinearWeights); // [B, outRows, outCols, D]
    }
    const rows = tf.concat([grid, tf.broadcastTo(newline.reshape([1, 1, 1, D]), [B, L.outRows, 1, D])], 2); // [B, outRows, outCols+1, D]
    return tf.concat([base, rows.reshape([B, L.outRows * (L.outCols + 1), D])], 1) as tf.Tensor3D; // [B, M, D]
  }

  /** pixels [B, H, W, C] (the data pipeline's normalisation) → the images' decoder inputs [B, numImageTokensFor(H, W), D]. */
  imageEmbeds(input: tf.Tensor4D, o: ForwardOptions): tf.Tensor3D {
    const pixels = this.towerPixels(input); // [B, H, W, C], the tower's normalisation
    const [B, H, W] = pixels.shape;
    const s = this.config.vision_config.image_size;
    if (this.config.image_grid_pinpoints.length === 0) {
      this.checkTowerSize(H, W);
      const f = this.project(this.visionFeatures(pixels, o), o); // [B, N, D]
      return this.packImage(f.expandDims(1) as tf.Tensor4D, H, W);
    }
    const L = anyresLayout(this.config, H, W);
    if (H === s && W === s && L.gridRows === 1 && L.gridCols === 1) {
      // At the tower's resolution with a 1×1 grid the only tile is the base image itself (no
      // resize, no padding): encode it once and use its features twice.
      const f = this.project(this.visionFeatures(pixels, o), o).expandDims(1); // [B, 1, N, D]
      return this.packImage(tf.concat([f, f], 1) as tf.Tensor4D, H, W);
    }
    const tiles = this.imageTiles(pixels); // [B, 1 + n, s, s, C]
    const n = tiles.shape[1];
    const flat = tiles.reshape([B * n, s, s, tiles.shape[4]]) as tf.Tensor4D; // [B·(1+n), s, s, C]
    const f = this.project(this.visionFeatures(flat, o), o); // [B·(1+n), N, D]
    return this.packImage(f.reshape([B, n, f.shape[1], f.shape[2]]) as tf.Tensor4D, H, W);
  }

  // ---- language model (Qwen2) ----------------------------------------------------------------

  /** Token embeddings with projected image features placed at the image-token positions. */
  embed(inputIds: tf.Tensor2D, imageEmbeds: tf.Tensor3D | null): tf.Tensor3D {
    const [B, T] = inputIds.shape;
    const D = this.config.text_config.hidden_size;
    const table = this.w("model.language_model.embed_tokens.weight"); // [V, D]
    const flat = inputIds.reshape([-1]) as tf.Tensor1D; // [B·T]
    // When the table trains, a one-hot matmul replaces gather: gather's gradient (UnsortedSegmentSum) is missing on wasm.
    const rows = this.opts.trainBase
      ? tf.matMul(tf.oneHot(flat, table.shape[0]!), table)
      : tf.gather(table, flat); // [B·T, D]
    const text = rows.reshape([B, T, D]); // [B, T, D]
    if (!imageEmbeds) return text as tf.Tensor3D;
    const N = imageEmbeds.shape[1];
    const isImage = tf.cast(tf.equal(inputIds, this.config.image_token_index), "float32"); // [B, T]
    // Every row must hold exactly one image's features' worth of image tokens (transformers raises
    // the same way): more would get zero features, fewer would drop some, both silently.
    const perRow = tf.tidy(() => tf.sum(isImage, 1).dataSync());
    const bad = Array.from(perRow).findIndex((n) => n !== N);
    if (bad >= 0)
      throw new Error(
        `prompt row ${bad} holds ${perRow[bad]} image tokens (id ${this.config.image_token_index}); the image gives ${N} features`,
      );
    // The k-th image token of a row takes the row's k-th image feature. A one-hot selection matrix
    // and a matmul do the placement, so the backward pass needs no scatter kernel.
    const ordinal = tf.cast(tf.sub(tf.cumsum(isImage, 1), 1), "int32"); // [B, T]
    const select = tf.mul(tf.oneHot(tf.maximum(ordinal, tf.scalar(0, "int32")), N), isImage.expandDims(2)); // [B, T, N]
    const placed = tf.matMul(select, imageEmbeds); // [B, T, D]
    return tf.add(tf.mul(text, tf.sub(1, isImage).expandDims(2)), placed) as tf.Tensor3D;
  }

  /** Runs the decoder on embeddings starting at absolute position `pos0`, extending `cache` if given. Returns normed hidden states [B, T, D]. */
  decode(x: tf.Tensor3D, pos0: number, o: ForwardOptions, cache?: KvCache): tf.Tensor3D {
    const t = this.config.text_config;
    const [, T] = x.shape;
    const hd = t.hidden_size / t.num_attention_heads;
    const { cos, sin } = rope(pos0, T, hd, t.rope_theta); // [T, hd]
    const total = pos0 + T;
    // Additive causal mask [T, total]: query at pos0+i sees keys 0..pos0+i.
    const qi = tf.add(tf.range(0, T, 1, "int32"), pos0).expandDims(1);
    const kj = tf.range(0, total, 1, "int32").expandDims(0);
    const mask = tf.mul(tf.cast(tf.greater(kj, qi), "float32"), -1e9); // [T, total]
    let h = x;
    for (let i = 0; i < t.num_hidden_layers; i++) h = this.decoderLayer(h, i, cos, sin, mask, o, cache);
    if (cache) cache.length = total;
    return rmsNorm(h, this.w("model.language_model.norm.weight"), t.rms_norm_eps);
  }

  private decoderLayer(
    x: tf.Tensor3D,
    i: number,
    cos: tf.Tensor2D,
    sin: tf.Tensor2D,
    mask: tf.Tensor,
    o: ForwardOptions,
    cache?: KvCache,
  ): tf.Tensor3D {
    const t = this.config.text_config;
    const pre = `model.language_model.layers.${i}`;
    const [B, T, D] = x.shape;
    const H = t.num_attention_heads;
    const KV = t.num_key_value_heads;
    const hd = D / H;
    const n1 = rmsNorm(x, this.w(`${pre}.input_layernorm.weight`), t.rms_norm_eps);
    const q = applyRope(
      this.lin(`${pre}.self_attn.q_proj`, n1, o).reshape([B, T, H, hd]).transpose([0, 2, 1, 3]),
      cos,
      sin,
    ); // [B, H, T, hd]
    let k = applyRope(
      this.lin(`${pre}.self_attn.k_proj`, n1, o).reshape([B, T, KV, hd]).transpose([0, 2, 1, 3]),
      cos,
      sin,
    ); // [B, KV, T, hd]
    let v = this.lin(`${pre}.self_attn.v_proj`, n1, o).reshape([B, T, KV, hd]).transpose([0, 2, 1, 3]); // [B, KV, T, hd]
    if (cache) {
      if (cache.k[i]) {
        k = tf.concat([cache.k[i], k], 2);
        v = tf.concat([cache.v[i], v], 2);
        tf.dispose([cache.k[i], cache.v[i]]);
      }
      cache.k[i] = tf.keep(k as tf.Tensor4D);
      cache.v[i] = tf.keep(v as tf.Tensor4D);
    }
    const kr = repeatKv(k, H / KV); // [B, H, S, hd]
    const vr = repeatKv(v, H / KV);
    const scores = tf.add(tf.mul(tf.matMul(q, kr, false, true), 1 / Math.sqrt(hd)), mask); // [B, H, T, S]
    const ctx = tf.matMul(tf.softmax(scores), vr).transpose([0, 2, 1, 3]).reshape([B, T, D]); // [B, T, D]
    const h = tf.add(x, this.lin(`${pre}.self_attn.o_proj`, ctx, o)) as tf.Tensor3D;
    const n2 = rmsNorm(h, this.w(`${pre}.post_attention_layernorm.weight`), t.rms_norm_eps);
    const gate = this.lin(`${pre}.mlp.gate_proj`, n2, o);
    const up = this.lin(`${pre}.mlp.up_proj`, n2, o);
    return tf.add(
      h,
      this.lin(`${pre}.mlp.down_proj`, tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), o),
    ) as tf.Tensor3D; // SwiGLU
  }

  /** hidden [B, T, D] → logits [B, T, V] */
  lmHead(hidden: tf.Tensor3D): tf.Tensor3D {
    const [B, T, D] = hidden.shape;
    const tied = this.config.text_config.tie_word_embeddings;
    const w = tied ? this.w("model.language_model.embed_tokens.weight") : this.w("lm_head.weight"); // [V, D]
    return tf.matMul(hidden.reshape([B * T, D]), w, false, true).reshape([B, T, -1]) as tf.Tensor3D;
  }

  // ---- multitask head ------------------------------------------------------------------------

  /** 14 logits from the pooled representation chosen by the spec. */
  classify(hidden: tf.Tensor3D, inputIds: tf.Tensor2D, imageEmbeds: tf.Tensor3D): tf.Tensor2D {
    let pooled: tf.Tensor2D;
    if (this.opts.pooling === "vision") {
      pooled = tf.mean(imageEmbeds, 1) as tf.Tensor2D; // [B, D]
    } else {
      const isImage = tf.cast(tf.equal(inputIds, this.config.image_token_index), "float32").expandDims(2); // [B, T, 1]
      pooled = tf.div(tf.sum(tf.mul(hidden, isImage), 1), tf.maximum(tf.sum(isImage, 1), 1)) as tf.Tensor2D; // [B, D]
    }
    return tf.add(tf.matMul(pooled, this.classifierW), this.classifierB) as tf.Tensor2D; // [B, 14]
  }

  forward(batch: ForwardBatch, o: ForwardOptions): { logits: tf.Tensor3D; clsLogits: tf.Tensor2D } {
    this.layerCounter = 0;
    const image = this.imageEmbeds(batch.pixels, o); // [B, M, D]
    const x = this.embed(batch.inputIds, image);
    const hidden = this.decode(x, 0, o);
    return { logits: this.lmHead(hidden), clsLogits: this.classify(hidden, batch.inputIds, image) };
  }

  dispose(): void {
    tf.dispose([...this.frozen.values(), this.classifierW, this.classifierB]);
    for (const l of this.linears.values()) l.dispose();
  }
}

// ---- building blocks ---------------------------------------------------------------------------

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta) as tf.Tensor3D;
}

function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor3D {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), weight) as tf.Tensor3D;
}

/** GELU, tanh approximation (SigLIP's gelu_pytorch_tanh). */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

/** GELU with the exact erf (the projector's "gelu"). */
function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** Rotary tables for positions pos0 … pos0+T-1: cos, sin [T, hd] (frequencies repeated twice, as HF). */
function rope(pos0: number, T: number, hd: number, theta: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
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
function applyRope(x: tf.Tensor, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const hd = x.shape[3]!;
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
}

/** [B, KV, S, hd] → [B, KV·rep, S, hd], each key/value head serving `rep` consecutive query heads. */
function repeatKv(x: tf.Tensor, rep: number): tf.Tensor {
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

/**
 * The float weights LlavaModel would quantize to NF4 (targeted linears of a frozen base), for
 * readCheckpointDir to quantize as it reads them instead of holding the float model first.
 */
export function quantizeOnLoad(
  opts: Pick<BuildOptions, "quantization" | "lora" | "trainBase">,
): (name: string, shape: number[]) => { blockSize: number; doubleQuant: boolean } | null {
  return (name, shape) =>
    opts.trainBase !== true &&
    opts.quantization.type === "nf4" &&
    shape.length === 2 &&
    isLinearWeight(name) &&
    opts.lora.targetModules.includes(lastName(name.slice(0, -".weight".length)))
      ? { blockSize: opts.quantization.blockSize, doubleQuant: opts.quantization.doubleQuant }
      : null;
}

function isLinearWeight(name: string): boolean {
  return /(_proj|\.fc[12]|linear_[12])\.weight$/.test(name);
}

export function hashSeed(seed: number, name: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

/** Every tensor the configuration implies, with its shape (PyTorch layouts). */
export function expectedShapes(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const v = c.vision_config;
  const t = c.text_config;
  const vp = "model.vision_tower.vision_model";
  const N = patchesPerSide(v) ** 2;
  m.set(`${vp}.embeddings.patch_embedding.weight`, [
    v.hidden_size,
    v.num_channels,
    v.patch_size,
    v.patch_size,
  ]);
  m.set(`${vp}.embeddings.patch_embedding.bias`, [v.hidden_size]);
  m.set(`${vp}.embeddings.position_embedding.weight`, [N, v.hidden_size]);
  for (let i = 0; i < v.num_hidden_layers; i++) {
    const p = `${vp}.encoder.layers.${i}`;
    for (const n of ["layer_norm1", "layer_norm2"]) {
      m.set(`${p}.${n}.weight`, [v.hidden_size]);
      m.set(`${p}.${n}.bias`, [v.hidden_size]);
    }
    for (const n of ["q_proj", "k_proj", "v_proj", "out_proj"]) {
      m.set(`${p}.self_attn.${n}.weight`, [v.hidden_size, v.hidden_size]);
      m.set(`${p}.self_attn.${n}.bias`, [v.hidden_size]);
    }
    m.set(`${p}.mlp.fc1.weight`, [v.intermediate_size, v.hidden_size]);
    m.set(`${p}.mlp.fc1.bias`, [v.intermediate_size]);
    m.set(`${p}.mlp.fc2.weight`, [v.hidden_size, v.intermediate_size]);
    m.set(`${p}.mlp.fc2.bias`, [v.hidden_size]);
  }
  m.set(`${vp}.post_layernorm.weight`, [v.hidden_size]);
  m.set(`${vp}.post_layernorm.bias`, [v.hidden_size]);
  m.set("model.image_newline", [t.hidden_size]);
  m.set("model.multi_modal_projector.linear_1.weight", [t.hidden_size, v.hidden_size]);
  m.set("model.multi_modal_projector.linear_1.bias", [t.hidden_size]);
  m.set("model.multi_modal_projector.linear_2.weight", [t.hidden_size, t.hidden_size]);
  m.set("model.multi_modal_projector.linear_2.bias", [t.hidden_size]);
  const lp = "model.language_model";
  const hd = t.hidden_size / t.num_attention_heads;
  m.set(`${lp}.embed_tokens.weight`, [t.vocab_size, t.hidden_size]);
  for (let i = 0; i < t.num_hidden_layers; i++) {
    const p = `${lp}.layers.${i}`;
    m.set(`${p}.input_layernorm.weight`, [t.hidden_size]);
    m.set(`${p}.post_attention_layernorm.weight`, [t.hidden_size]);
    m.set(`${p}.self_attn.q_proj.weight`, [t.num_attention_heads * hd, t.hidden_size]);
    m.set(`${p}.self_attn.q_proj.bias`, [t.num_attention_heads * hd]);
    m.set(`${p}.self_attn.k_proj.weight`, [t.num_key_value_heads * hd, t.hidden_size]);
    m.set(`${p}.self_attn.k_proj.bias`, [t.num_key_value_heads * hd]);
    m.set(`${p}.self_attn.v_proj.weight`, [t.num_key_value_heads * hd, t.hidden_size]);
    m.set(`${p}.self_attn.v_proj.bias`, [t.num_key_value_heads * hd]);
    m.set(`${p}.self_attn.o_proj.weight`, [t.hidden_size, t.num_attention_heads * hd]);
    m.set(`${p}.mlp.gate_proj.weight`, [t.intermediate_size, t.hidden_size]);
    m.set(`${p}.mlp.up_proj.weight`, [t.intermediate_size, t.hidden_size]);
    m.set(`${p}.mlp.down_proj.weight`, [t.hidden_size, t.intermediate_size]);
  }
  m.set(`${lp}.norm.weight`, [t.hidden_size]);
  if (!t.tie_word_embeddings) m.set("lm_head.weight", [t.vocab_size, t.hidden_size]);
  m.set("classifier.weight", [c.radfleet.num_labels, t.hidden_size]);
  m.set("classifier.bias", [c.radfleet.num_labels]);
  return m;
}

/**
 * Maps a checkpoint key to radfleet's canonical one (`model.language_model.…`,
 * `model.vision_tower.vision_model.…`, `lm_head.weight`). Accepts the older LLaVA layout
 * (`language_model.model.…`, `vision_tower.vision_model.…`) and transformers 5's saved layout,
 * where the SigLIP tower has no `vision_model.` level.
 */
export function canonicalKey(key: string): string {
  let k = key;
  if (k.startsWith("language_model.model."))
    k = `model.language_model.${k.slice("language_model.model.".length)}`;
  else if (k === "language_model.lm_head.weight") k = "lm_head.weight";
  else if (k.startsWith("vision_tower.") || k.startsWith("multi_modal_projector.") || k === "image_newline")
    k = `model.${k}`;
  if (k.startsWith("model.vision_tower.") && !k.startsWith("model.vision_tower.vision_model.")) {
    k = `model.vision_tower.vision_model.${k.slice("model.vision_tower.".length)}`;
  }
  return k;
}

/** Random initial weights (normal σ = 0.02 for matrices, zeros for biases, ones for norm scales), deterministic from the seed. */
export function randomWeights(c: ModelConfig, seed: number): WeightMap {
  const out: WeightMap = new Map();
  for (const [name, shape] of expectedShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (/norm[12]?\.weight$|layernorm\.weight$|layer_norm[12]\.weight$/.test(name))
      data = new Float32Array(size).fill(1);
    else if (name.endsWith(".bias")) data = new Float32Array(size);
    else data = normalInit(shape, 0.02, hashSeed(seed, name));
    out.set(name, { shape, data });
  }
  return out;
}

/** Normal(0, σ) values, deterministic from the seed. */
export function normalInit(shape: number[], std: number, seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, 0, std, "float32", seed).dataSync() as Float32Array).slice();
}

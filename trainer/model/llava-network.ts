// The LLaVA-OneVision network with its multitask head, top to bottom:
//   SigLIP vision tower → two-layer MLP projector → Qwen2 decoder → lm_head
//                                                            ↘ pooled → 14-label classifier
// Built once from the weight table (weight-table.ts) and a checkpoint's weights. Linear layers named
// in the LoRA targets hold a frozen (NF4) base and a trainable adapter; embeddings and norms are
// frozen float tensors. The only trainable tensors are the adapters and the classifier, or every
// weight when the base itself trains (trainBase).
import type * as tf from "@tensorflow/tfjs";
import type { LoraLinear } from "../qlora/index.js";
import type { HeadOptions } from "../../common/spec/index.js";
import { ClassifierHead } from "./classifier-head.js";
import type { ModelConfig } from "./config.js";
import type { KvCache } from "./decoder-layer.js";
import type { ForwardOptions, ForwardOutput } from "./forward-options.js";
import { ImageEmbedder } from "./image-embedder.js";
import { pipelineNormalization, pixelAffine, type ImageNormalization } from "./image-normalization.js";
import { LanguageModel } from "./language-model.js";
import type { LinearOptions } from "./linear-policy.js";
import { ParameterStore } from "./parameter-store.js";
import { checkWeights, type WeightMap } from "./weight-map.js";
import { llavaWeightTable, type LlavaWeightTable } from "./weight-table.js";

export interface NetworkOptions extends LinearOptions {
  pooling: HeadOptions["pooling"];
  /**
   * What the vision tower expects (preprocessor_config.json's image_mean / image_std). The network
   * is given pixels in the data pipeline's normalisation and converts them (towerPixels). Default:
   * the pipeline's own (no conversion).
   */
  imageNormalization?: ImageNormalization;
}

export interface ForwardBatch {
  pixels: tf.Tensor4D; // [B, H, W, C] in the data pipeline's normalisation: one size for the batch; the tower's image_size unless anyres (image_grid_pinpoints)
  inputIds: tf.Tensor2D; // [B, T] int32
}

/** The tower's normalisation must have one mean and one std per channel. */
function checkImageNormalization(n: ImageNormalization, channels: number, source: string): void {
  if (n.imageMean.length !== channels || n.imageStd.length !== channels) {
    throw new Error(
      `${source}: image normalisation has ${n.imageMean.length} means and ${n.imageStd.length} stds, the vision tower ${channels} channels (vision_config.num_channels)`,
    );
  }
}

export class LlavaNetwork {
  readonly config: ModelConfig;
  readonly table: LlavaWeightTable;
  /** The tower's normalisation (image_mean / image_std per channel), what preprocessor_config.json gets on save. */
  readonly imageNormalization: ImageNormalization;
  readonly head: ClassifierHead;
  private readonly store: ParameterStore;
  private readonly image: ImageEmbedder;
  private readonly language: LanguageModel;
  private static instances = 0;

  constructor(config: ModelConfig, weights: WeightMap, opts: NetworkOptions, source = "weights") {
    this.config = config;
    const C = config.vision_config.num_channels;
    this.imageNormalization = opts.imageNormalization ?? pipelineNormalization(C);
    checkImageNormalization(this.imageNormalization, C, source);
    this.table = llavaWeightTable(config);
    checkWeights(this.table, weights, source);
    const id = LlavaNetwork.instances++;
    this.store = new ParameterStore(this.table, weights, opts, id);
    this.image = new ImageEmbedder(config, this.table, this.store, pixelAffine(this.imageNormalization));
    this.language = new LanguageModel(this.table.language, this.store, config, opts.trainBase === true);
    this.head = new ClassifierHead(this.table.classifier, weights, config, opts.pooling, opts.seed, id);
  }

  forward(batch: ForwardBatch, o: ForwardOptions): ForwardOutput {
    const image = this.imageEmbeds(batch.pixels, o); // [B, M, D]
    const x = this.embed(batch.inputIds, image); // [B, T, D]
    const hidden = this.decode(x, 0, o); // [B, T, D]
    return {
      logits: this.lmHead(hidden), // [B, T, V]
      clsLogits: this.head.forward(hidden, batch.inputIds, image), // [B, L]
      imageEmbeds: image,
    };
  }

  /** Image tokens per image presented at the tower's own resolution (see numImageTokensFor). */
  get numImageTokens(): number {
    const s = this.config.vision_config.image_size;
    return this.numImageTokensFor(s, s);
  }

  /** Image tokens a prompt must hold for an image of height × width (transformers' processor count). */
  numImageTokensFor(height: number, width: number): number {
    return this.image.numImageTokensFor(height, width);
  }

  /** Pixels [B, H, W, C] in the pipeline's normalisation → the tower's. */
  towerPixels(pixels: tf.Tensor4D): tf.Tensor4D {
    return this.image.towerPixels(pixels);
  }

  /** The processor's pixel_values [B, 1 + tiles, s, s, C] for tower-normalised pixels [B, H, W, C]. */
  imageTiles(pixels: tf.Tensor4D): tf.Tensor5D {
    return this.image.imageTiles(pixels);
  }

  /** pixels [B, H, W, C] → the images' decoder inputs [B, numImageTokensFor(H, W), D]. */
  imageEmbeds(pixels: tf.Tensor4D, o: ForwardOptions): tf.Tensor3D {
    return this.image.forward(pixels, o);
  }

  /** inputIds [B, T] (+ image features [B, M, D]) → embeddings [B, T, D]. */
  embed(inputIds: tf.Tensor2D, imageEmbeds: tf.Tensor3D | null): tf.Tensor3D {
    return this.language.embed(inputIds, imageEmbeds);
  }

  /** Embeddings [B, T, D] at positions pos0 … → normed hidden states [B, T, D], extending `cache` if given. */
  decode(x: tf.Tensor3D, pos0: number, o: ForwardOptions, cache?: KvCache): tf.Tensor3D {
    return this.language.decode(x, pos0, o, cache);
  }

  /** hidden [B, T, D] → logits [B, T, V] */
  lmHead(hidden: tf.Tensor3D): tf.Tensor3D {
    return this.language.lmHead(hidden);
  }

  /** LoRA A/B in table order (vision, projector, language model), then the head; base weights first when trainBase. */
  trainableVariables(): tf.Variable[] {
    return [...this.store.trainableVariables(), ...this.head.trainableVariables()];
  }

  loraLayers(): LoraLinear[] {
    return this.store.loraLayers();
  }

  /** Every weight as float32 in Hugging Face names and PyTorch layouts (LoRA merged in): for saveBase. */
  floatWeights(): Array<{ name: string; shape: number[]; data: Float32Array }> {
    const head = this.head.floatValues();
    return this.table.tensors.map((t) => {
      const data =
        t === this.table.classifier.weight
          ? head.weight
          : t === this.table.classifier.bias
            ? head.bias
            : this.store.floatValues(t);
      return { name: t.name, shape: [...t.shape], data: Float32Array.from(data) };
    });
  }

  dispose(): void {
    this.store.dispose();
    this.head.dispose();
  }
}

export type { ForwardOptions, KvCache };

// The model as the training loop sees it: the network with its tokenizer, forward a batch, expose
// the trainable variables, generate, and move adapters and base weights in and out in Hugging Face
// / PEFT formats. Built by buildModel (build-model.ts).
import * as tf from "@tensorflow/tfjs";
import { adapterConfigJson, loadAdapter, saveAdapter, type AdapterConfig } from "../qlora/index.js";
import type { LoraOptions } from "../../common/spec/index.js";
import { writeCheckpointDir } from "./checkpoint-dir.js";
import type { ModelConfig } from "./config.js";
import { generateBeam } from "./beam-search.js";
import { generateGreedy, type GenerateOptions } from "./generate.js";
import type { ImageNormalization } from "./image-normalization.js";
import type { ForwardOptions, LlavaNetwork } from "./llava-network.js";
import type { ForwardOutput } from "./forward-options.js";
import {
  adapterTensors,
  loadAdapterTensors,
  peftAdapterConfig,
  type NamedTensor,
} from "./peft-adapter-io.js";
import type { Tokenizer } from "./tokenizer.js";

export interface Batch {
  pixels: tf.Tensor4D; // [B, S, S, C], S = model.imageSize, normalised as trainer/data does (black = -PIXEL_MEAN / PIXEL_STD); the model converts them to its checkpoint's normalisation
  inputIds: tf.Tensor2D; // [B, T] int32, padding on the right
  /** [B, T] 1 for real tokens. The decoder is causal and padding sits on the right, so real positions
   * never see padding; the loss masks padded positions. Kept for the interface's sake. */
  attentionMask?: tf.Tensor2D;
}

/** The decoding controls (the run spec's, Hugging Face generate's semantics) and stop tokens. */
export type GenerateRequest = GenerateOptions;

/** What the facade keeps of the build options. */
export interface ModelIdentity {
  lora: LoraOptions;
  /** adapter_config.json's base_model_name_or_path: the directory or preset built from. */
  baseModel: string;
  /** The run's image side (data.imageSize), honoured by anyres checkpoints. */
  imageSize?: number;
}

export class VisionLanguageModel {
  constructor(
    readonly network: LlavaNetwork,
    readonly tokenizer: Tokenizer,
    private readonly tokenizerJson: object | null,
    private readonly identity: ModelIdentity,
    /** The checkpoint's preprocessor_config.json, kept (with the normalisation used) by saveBase. */
    private readonly preprocessorJson: Record<string, unknown> | null = null,
  ) {}

  get config(): ModelConfig {
    return this.network.config;
  }

  /** What the vision tower is given: (p/255 − imageMean[c]) / imageStd[c], converted from the pipeline's pixels. */
  get imageNormalization(): ImageNormalization {
    return this.network.imageNormalization;
  }

  /** Channels of the pixels tensor (3: greyscale X-rays are repeated into RGB, as SigLIP was trained). */
  get imageChannels(): number {
    return this.network.config.vision_config.num_channels;
  }

  /**
   * Side in pixels of the square images this model takes: the run's imageSize for an anyres
   * checkpoint (image_grid_pinpoints), else the vision tower's image_size.
   */
  get imageSize(): number {
    const c = this.network.config;
    return c.image_grid_pinpoints.length > 0
      ? (this.identity.imageSize ?? c.vision_config.image_size)
      : c.vision_config.image_size;
  }

  /** Image tokens a prompt must hold per image of imageSize × imageSize (transformers' processor count). */
  get numImageTokens(): number {
    return this.network.numImageTokensFor(this.imageSize, this.imageSize);
  }

  forward(batch: Batch, opts: ForwardOptions): ForwardOutput {
    return this.network.forward(batch, opts);
  }

  trainableVariables(): tf.Variable[] {
    return this.network.trainableVariables();
  }

  /** The classifier head's weight and bias (also among trainableVariables). */
  headVariables(): tf.Variable[] {
    return this.network.head.trainableVariables();
  }

  /** Generates for each prompt; prompts of different lengths run as separate batches (no left padding). */
  async generate(pixels: tf.Tensor4D, promptIds: number[][], opts: GenerateRequest): Promise<number[][]> {
    const out: number[][] = new Array<number[]>(promptIds.length);
    const byLength = new Map<number, number[]>();
    promptIds.forEach((p, i) => byLength.set(p.length, [...(byLength.get(p.length) ?? []), i]));
    for (const rows of byLength.values()) {
      const pix = tf.gather(pixels, rows) as tf.Tensor4D;
      try {
        const prompts = rows.map((r) => promptIds[r]);
        const res =
          (opts.numBeams ?? 1) > 1
            ? generateBeam(this.network, pix, prompts, opts)
            : generateGreedy(this.network, pix, prompts, opts);
        rows.forEach((r, i) => (out[r] = res[i]));
      } finally {
        pix.dispose();
      }
      await tf.nextFrame(); // let timers (heartbeats) run between groups
    }
    return out;
  }

  /** LoRA matrices under PEFT keys, then the head as a PEFT modules_to_save entry. */
  adapterTensors(): NamedTensor[] {
    return adapterTensors(this.network);
  }

  /** Assigns every adapter tensor; a missing, unknown or mis-shaped one is an error naming it. */
  loadAdapterTensors(t: Map<string, { shape: number[]; data: Float32Array }>): void {
    loadAdapterTensors(this.network, t);
  }

  /** adapter_config.json's content (PEFT's field names) for this model's adapters. */
  adapterConfig(): Record<string, unknown> {
    return adapterConfigJson(this.peftConfig());
  }

  /** The adapter's PEFT settings; the head is saved as a modules_to_save entry. */
  peftConfig(): AdapterConfig {
    return peftAdapterConfig(this.identity.lora, this.identity.baseModel);
  }

  /** adapter_config.json + adapter_model.safetensors, loadable by PEFT. */
  async saveAdapter(dir: string): Promise<void> {
    await saveAdapter(dir, this.peftConfig(), this.adapterTensors());
  }

  /** Reads a PEFT adapter directory written by saveAdapter into this model; the rank must match. */
  async loadAdapter(dir: string): Promise<void> {
    const { config, tensors } = await loadAdapter(dir);
    const r = this.identity.lora.r;
    if (config.r !== r)
      throw new Error(`${dir}: adapter rank r=${config.r}, the model was built with r=${r}`);
    this.loadAdapterTensors(tensors);
  }

  /** Full float weights (LoRA merged) as a Hugging Face directory, with the normalisation the model uses. */
  async saveBase(dir: string): Promise<void> {
    await writeCheckpointDir(
      dir,
      this.network.config,
      this.network.floatWeights(),
      this.tokenizerJson,
      this.network.imageNormalization,
      this.preprocessorJson,
    );
  }

  dispose(): void {
    this.network.dispose();
  }
}

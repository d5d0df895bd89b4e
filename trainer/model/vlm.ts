// The model as the training loop sees it: build from a preset or a Hugging Face directory, forward
// a batch, expose the trainable variables, generate, and move adapters and base weights in and out
// in Hugging Face / PEFT formats.
import * as tf from "@tensorflow/tfjs";
import {
  adapterConfigJson,
  loadAdapter,
  peftKey,
  peftSavedModuleKey,
  saveAdapter,
  type AdapterConfig,
  type LoraConfig,
} from "../qlora/index.js";
import { realConfig, smallConfig, tinyConfig, type ModelConfig } from "./config.js";
import { readCheckpointDir, writeCheckpointDir } from "./checkpoint-dir.js";
import { defaultNormalization, type ImageNormalization } from "./image-normalization.js";
import { generateBeam, generateGreedy } from "./generate.js";
import { LlavaModel, quantizeOnLoad, randomWeights } from "./llava.js";
import { DEFAULT_TINY_VOCABULARY } from "./tiny-vocabulary.js";
import { buildWordLevelTokenizer, tokenizerFromJson, type Tokenizer } from "./tokenizer.js";

export interface ModelSpec {
  /**
   * Also picks the pixels' normalisation when there is no preprocessor_config.json: tiny (and unset)
   * the data pipeline's own, the real presets SigLIP's 0.5 / 0.5.
   */
  preset?: "tiny" | "small" | "llava-onevision-qwen2-0.5b" | "llava-onevision-qwen2-7b";
  /**
   * A Hugging Face directory (config.json + safetensors + tokenizer.json, and preprocessor_config.json
   * whose image_mean / image_std the model converts the pipeline's pixels to); overrides the preset's weights.
   */
  path?: string;
  quantization: {
    type: "nf4" | "none";
    blockSize: number;
    doubleQuant: boolean;
    /** Budget of cached float copies of NF4 weights (see LoraLinear); default 1024. */
    cacheDequantizedMiB?: number;
  };
  lora: LoraConfig & { targetModules: string[] };
  head: { pooling: "image_tokens" | "vision" };
  seed: number;
  /**
   * Side of the square images the model is given (the run's data.imageSize). The tiny preset builds
   * its tower at this size (default 64). A checkpoint with image_grid_pinpoints takes any size and
   * tiles it as transformers' processor would (e.g. 2×2 tiles for 768 at a 384 tower); one without
   * takes its tower's image_size only. Unset: the tower's image_size.
   */
  imageSize?: number;
  /** Every weight a float variable and no LoRA: pretraining the tiny base (`radfleet pretrain`). */
  trainBase?: boolean;
  /** tokenizer.json for a preset built without a path (e.g. buildWordLevelTokenizer over the corpus). */
  tokenizerJson?: object;
  /** Or texts to build the tiny preset's word-level vocabulary from (with the built-in words). */
  corpus?: string[];
}

export interface Batch {
  pixels: tf.Tensor4D; // [B, S, S, C], S = model.imageSize, normalised as trainer/data does (black = -PIXEL_MEAN / PIXEL_STD); the model converts them to its checkpoint's normalisation
  inputIds: tf.Tensor2D; // [B, T] int32, padding on the right
  /** [B, T] 1 for real tokens. The decoder is causal and padding sits on the right, so real positions
   * never see padding; the loss masks padded positions. Kept for the interface's sake. */
  attentionMask?: tf.Tensor2D;
}

export interface GenerateRequest {
  maxNewTokens: number;
  numBeams?: number;
  repetitionPenalty?: number;
  stopTokenIds?: number[];
  /** false recomputes the whole sequence each step (for testing the cache). */
  useCache?: boolean;
}

export class VlmModel {
  constructor(
    readonly net: LlavaModel,
    readonly tokenizer: Tokenizer,
    private readonly tokenizerJson: object | null,
    private readonly spec: ModelSpec,
    /** The checkpoint's preprocessor_config.json, kept (with the normalisation used) by saveBase. */
    private readonly preprocessorJson: Record<string, unknown> | null = null,
  ) {}

  get config(): ModelConfig {
    return this.net.config;
  }

  /** What the vision tower is given: (p/255 − imageMean[c]) / imageStd[c], converted from the pipeline's pixels. */
  get imageNormalization(): ImageNormalization {
    return this.net.imageNormalization;
  }

  /** Channels of the pixels tensor (3: greyscale X-rays are repeated into RGB, as SigLIP was trained). */
  get imageChannels(): number {
    return this.net.config.vision_config.num_channels;
  }

  /**
   * Side in pixels of the square images this model takes: spec.imageSize for an anyres checkpoint
   * (image_grid_pinpoints), else the vision tower's image_size.
   */
  get imageSize(): number {
    const c = this.net.config;
    return c.image_grid_pinpoints.length > 0
      ? (this.spec.imageSize ?? c.vision_config.image_size)
      : c.vision_config.image_size;
  }

  /** Image tokens a prompt must hold per image of imageSize × imageSize (transformers' processor count). */
  get numImageTokens(): number {
    return this.net.numImageTokensFor(this.imageSize, this.imageSize);
  }

  forward(
    batch: Batch,
    opts: { training: boolean; dropoutSeed?: number },
  ): { logits: tf.Tensor3D; clsLogits: tf.Tensor2D } {
    return this.net.forward(batch, opts);
  }

  trainableVariables(): tf.Variable[] {
    return this.net.trainableVariables();
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
            ? generateBeam(this.net, pix, prompts, opts)
            : generateGreedy(this.net, pix, prompts, opts);
        rows.forEach((r, i) => (out[r] = res[i]));
      } finally {
        pix.dispose();
      }
      await tf.nextFrame(); // let timers (heartbeats) run between groups
    }
    return out;
  }

  /** LoRA matrices under PEFT keys, then the head as a PEFT modules_to_save entry. */
  adapterTensors(): Array<{ name: string; shape: number[]; data: Float32Array }> {
    const out: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
    for (const l of this.net.loraLayers()) {
      for (const [which, v] of [
        ["lora_A", l.loraA!],
        ["lora_B", l.loraB!],
      ] as const) {
        out.push({
          name: peftKey(l.name, which),
          shape: v.shape.slice(),
          data: Float32Array.from(v.dataSync() as Float32Array),
        });
      }
    }
    const w = tf.tidy(() => tf.transpose(this.net.classifierW)); // [14, D], PyTorch layout
    out.push({
      name: peftSavedModuleKey("classifier", "weight"),
      shape: w.shape.slice(),
      data: Float32Array.from(w.dataSync() as Float32Array),
    });
    w.dispose();
    out.push({
      name: peftSavedModuleKey("classifier", "bias"),
      shape: this.net.classifierB.shape.slice(),
      data: Float32Array.from(this.net.classifierB.dataSync() as Float32Array),
    });
    return out;
  }

  /** Assigns every adapter tensor; a missing, unknown or mis-shaped one is an error naming it. */
  loadAdapterTensors(t: Map<string, { shape: number[]; data: Float32Array }>): void {
    const targets = new Map<string, tf.Variable>();
    for (const l of this.net.loraLayers()) {
      targets.set(peftKey(l.name, "lora_A"), l.loraA!);
      targets.set(peftKey(l.name, "lora_B"), l.loraB!);
    }
    const headW = peftSavedModuleKey("classifier", "weight");
    targets.set(headW, this.net.classifierW);
    targets.set(peftSavedModuleKey("classifier", "bias"), this.net.classifierB);
    const missing = [...targets.keys()].filter((k) => !t.has(k));
    const extra = [...t.keys()].filter((k) => !targets.has(k));
    if (missing.length || extra.length) {
      throw new Error(
        `adapter does not match the model's LoRA targets — missing: [${missing.join(", ")}]; unexpected: [${extra.join(", ")}]`,
      );
    }
    for (const [k, v] of targets) {
      const src = t.get(k)!;
      const want = k === headW ? [v.shape[1], v.shape[0]] : v.shape;
      if (src.shape.join("x") !== want.join("x"))
        throw new Error(
          `adapter tensor ${k}: expected shape [${want.join(", ")}], got [${src.shape.join(", ")}]`,
        );
      tf.tidy(() => {
        const x = tf.tensor(src.data, src.shape);
        v.assign(k === headW ? tf.transpose(x) : x);
      });
    }
  }

  /** adapter_config.json's content (PEFT's field names) for this model's adapters. */
  adapterConfig(): Record<string, unknown> {
    return adapterConfigJson(this.peftConfig());
  }

  /** The adapter's PEFT settings; the head is saved as a modules_to_save entry. */
  peftConfig(): AdapterConfig {
    const l = this.spec.lora;
    return {
      r: l.r,
      loraAlpha: l.alpha,
      loraDropout: l.dropout,
      targetModules: l.targetModules,
      useRslora: l.rslora,
      modulesToSave: ["classifier"],
      baseModelNameOrPath: this.spec.path ?? this.spec.preset ?? "tiny",
      taskType: "CAUSAL_LM",
      bias: "none",
    };
  }

  /** adapter_config.json + adapter_model.safetensors, loadable by PEFT. */
  async saveAdapter(dir: string): Promise<void> {
    await saveAdapter(dir, this.peftConfig(), this.adapterTensors());
  }

  /** Reads a PEFT adapter directory written by saveAdapter into this model; the rank must match. */
  async loadAdapter(dir: string): Promise<void> {
    const { config, tensors } = await loadAdapter(dir);
    if (config.r !== this.spec.lora.r)
      throw new Error(`${dir}: adapter rank r=${config.r}, the model was built with r=${this.spec.lora.r}`);
    this.loadAdapterTensors(tensors);
  }

  /** Full float weights (LoRA merged) as a Hugging Face directory, with the normalisation the model uses. */
  async saveBase(dir: string): Promise<void> {
    await writeCheckpointDir(
      dir,
      this.net.config,
      this.net.floatWeights(),
      this.tokenizerJson,
      this.net.imageNormalization,
      this.preprocessorJson,
    );
  }

  dispose(): void {
    this.net.dispose();
  }
}

/** Builds the model: random seeded weights for a preset without a path, else the directory's weights. */
export async function buildModel(spec: ModelSpec): Promise<VlmModel> {
  const opts = {
    quantization: spec.quantization,
    lora: spec.lora,
    pooling: spec.head.pooling,
    seed: spec.seed,
    trainBase: spec.trainBase === true,
  };
  if (spec.path) {
    const dir = await readCheckpointDir(spec.path, { quantize: quantizeOnLoad(opts) });
    const imageNormalization =
      dir.preprocessor?.normalization ??
      defaultNormalization(spec.preset, dir.config.vision_config.num_channels);
    if (!dir.tokenizerJson && !spec.tokenizerJson)
      throw new Error(
        `${spec.path}: no tokenizer.json; copy the checkpoint's tokenizer.json next to its config.json`,
      );
    const tokJson = dir.tokenizerJson ?? spec.tokenizerJson!;
    const tok = tokenizerFromJson(tokJson, `${spec.path}/tokenizer.json`);
    return new VlmModel(
      new LlavaModel(dir.config, dir.weights, { ...opts, imageNormalization }, spec.path),
      tok,
      tokJson,
      spec,
      dir.preprocessor?.json ?? null,
    );
  }
  const preset = spec.preset ?? "tiny";
  if (preset !== "tiny" && preset !== "small") {
    throw new Error(
      `model preset ${preset}: random initialisation is only for "tiny" and "small"; set model.path to a downloaded llava-hf/${preset}-ov-hf directory`,
    );
  }
  const tokJson =
    spec.tokenizerJson ?? buildWordLevelTokenizer([DEFAULT_TINY_VOCABULARY, ...(spec.corpus ?? [])]);
  const tok = tokenizerFromJson(tokJson, "tiny tokenizer");
  const config =
    preset === "small"
      ? smallConfig(tok.vocabSize, spec.imageSize ?? 128)
      : tinyConfig(tok.vocabSize, spec.imageSize ?? 64);
  config.image_token_index = tok.imageTokenId;
  return new VlmModel(
    new LlavaModel(
      config,
      randomWeights(config, spec.seed),
      { ...opts, imageNormalization: defaultNormalization(preset, config.vision_config.num_channels) },
      `${preset} preset`,
    ),
    tok,
    tokJson,
    spec,
  );
}

export { realConfig };

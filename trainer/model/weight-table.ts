// The LLaVA-OneVision architecture as data: every weight a configuration implies, with its Hugging
// Face name, its shape (PyTorch layout), whether it is a linear layer's weight (the only tensors that
// are NF4-quantized and LoRA-wrapped) and how a fresh one is initialised. Checkpoint validation,
// quantization targets, random initialisation, parameter counts and the modules' wiring all read
// this one table, so each name is spelt once, here.
import { patchesPerSide, type ModelConfig, type TextConfig, type VisionConfig } from "./config.js";

/** How a fresh tensor starts: normal(0, 0.02), zeros or ones. */
export type Init = "normal" | "zeros" | "ones";

/** The part of the model that owns a tensor (parameter counts by part). */
export type Part = "vision" | "projector" | "language" | "head";

export interface TensorSpec {
  /** Canonical Hugging Face name (the `model.language_model.…` layout). */
  readonly name: string;
  readonly shape: number[];
  readonly init: Init;
  readonly part: Part;
  /** A linear layer's [out, in] weight. */
  readonly linear: boolean;
  /** Stored in checkpoints, never read by LLaVA (the tower's post_layernorm). */
  readonly unused: boolean;
}

/** Leaf names of the linear layers: what LoRA's target_modules name. */
export type LinearModule =
  | "q_proj"
  | "k_proj"
  | "v_proj"
  | "out_proj"
  | "o_proj"
  | "fc1"
  | "fc2"
  | "linear_1"
  | "linear_2"
  | "gate_proj"
  | "up_proj"
  | "down_proj";

export interface LinearSpec {
  /** Module path, e.g. "model.language_model.layers.0.self_attn.q_proj". */
  readonly path: string;
  readonly module: LinearModule;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: TensorSpec; // [out, in]
  readonly bias: TensorSpec | null; // [out]
}

export interface NormSpec {
  readonly weight: TensorSpec; // [D]
  readonly bias: TensorSpec | null; // [D], LayerNorm only
}

export interface VisionLayerSpec {
  readonly layerNorm1: NormSpec;
  readonly layerNorm2: NormSpec;
  readonly q: LinearSpec;
  readonly k: LinearSpec;
  readonly v: LinearSpec;
  readonly out: LinearSpec;
  readonly fc1: LinearSpec;
  readonly fc2: LinearSpec;
}

export interface VisionTowerSpec {
  readonly patchWeight: TensorSpec; // [D_v, C, p, p]
  readonly patchBias: TensorSpec; // [D_v]
  readonly positions: TensorSpec; // [N, D_v]
  readonly layers: VisionLayerSpec[];
  readonly postLayernorm: NormSpec;
}

export interface ProjectorSpec {
  readonly linear1: LinearSpec;
  readonly linear2: LinearSpec;
}

export interface DecoderLayerSpec {
  readonly inputNorm: NormSpec;
  readonly postAttentionNorm: NormSpec;
  readonly q: LinearSpec;
  readonly k: LinearSpec;
  readonly v: LinearSpec;
  readonly o: LinearSpec;
  readonly gate: LinearSpec;
  readonly up: LinearSpec;
  readonly down: LinearSpec;
}

export interface LanguageModelSpec {
  readonly embedTokens: TensorSpec; // [V, D]
  readonly layers: DecoderLayerSpec[];
  readonly norm: NormSpec;
  /** Null with tied embeddings: the head reads embed_tokens. */
  readonly lmHead: TensorSpec | null; // [V, D]
}

export interface ClassifierSpec {
  readonly weight: TensorSpec; // [labels, D]
  readonly bias: TensorSpec; // [labels]
}

export interface LlavaWeightTable {
  readonly vision: VisionTowerSpec;
  readonly imageNewline: TensorSpec; // [D]
  readonly projector: ProjectorSpec;
  readonly language: LanguageModelSpec;
  readonly classifier: ClassifierSpec;
  /** Every tensor in checkpoint order: vision tower, image_newline, projector, language model, head. */
  readonly tensors: TensorSpec[];
  /** Every linear layer, in the same order. */
  readonly linears: LinearSpec[];
}

/** Collects specs in creation order, which is the table's (and the checkpoint's) order. */
class Collector {
  readonly tensors: TensorSpec[] = [];
  readonly linears: LinearSpec[] = [];
  constructor(private readonly part: Part) {}

  tensor(
    name: string,
    shape: number[],
    init: Init,
    o: { linear?: boolean; unused?: boolean } = {},
  ): TensorSpec {
    const t = { name, shape, init, part: this.part, linear: o.linear ?? false, unused: o.unused ?? false };
    this.tensors.push(t);
    return t;
  }

  linear(
    path: string,
    module: LinearModule,
    inFeatures: number,
    outFeatures: number,
    bias: boolean,
  ): LinearSpec {
    const full = `${path}.${module}`;
    const l = {
      path: full,
      module,
      inFeatures,
      outFeatures,
      weight: this.tensor(`${full}.weight`, [outFeatures, inFeatures], "normal", { linear: true }),
      bias: bias ? this.tensor(`${full}.bias`, [outFeatures], "zeros") : null,
    };
    this.linears.push(l);
    return l;
  }

  norm(path: string, size: number, bias: boolean, unused = false): NormSpec {
    return {
      weight: this.tensor(`${path}.weight`, [size], "ones", { unused }),
      bias: bias ? this.tensor(`${path}.bias`, [size], "zeros", { unused }) : null,
    };
  }
}

const VISION = "model.vision_tower.vision_model";
const LANGUAGE = "model.language_model";

/** SigLIP: patch embedding, learned positions, pre-norm encoder layers. */
function siglipTable(v: VisionConfig, c: Collector): VisionTowerSpec {
  const D = v.hidden_size;
  const patchWeight = c.tensor(
    `${VISION}.embeddings.patch_embedding.weight`,
    [D, v.num_channels, v.patch_size, v.patch_size],
    "normal",
  );
  const patchBias = c.tensor(`${VISION}.embeddings.patch_embedding.bias`, [D], "zeros");
  const positions = c.tensor(
    `${VISION}.embeddings.position_embedding.weight`,
    [patchesPerSide(v) ** 2, D],
    "normal",
  );
  const layers = Array.from({ length: v.num_hidden_layers }, (_, i): VisionLayerSpec => {
    const p = `${VISION}.encoder.layers.${i}`;
    const layerNorm1 = c.norm(`${p}.layer_norm1`, D, true);
    const layerNorm2 = c.norm(`${p}.layer_norm2`, D, true);
    return {
      layerNorm1,
      layerNorm2,
      q: c.linear(`${p}.self_attn`, "q_proj", D, D, true),
      k: c.linear(`${p}.self_attn`, "k_proj", D, D, true),
      v: c.linear(`${p}.self_attn`, "v_proj", D, D, true),
      out: c.linear(`${p}.self_attn`, "out_proj", D, D, true),
      fc1: c.linear(`${p}.mlp`, "fc1", D, v.intermediate_size, true),
      fc2: c.linear(`${p}.mlp`, "fc2", v.intermediate_size, D, true),
    };
  });
  // LLaVA reads the encoder's hidden states, never last_hidden_state, so this norm is never applied.
  const postLayernorm = c.norm(`${VISION}.post_layernorm`, D, true, true);
  return { patchWeight, patchBias, positions, layers, postLayernorm };
}

function projectorTable(v: VisionConfig, t: TextConfig, c: Collector): ProjectorSpec {
  const p = "model.multi_modal_projector";
  return {
    linear1: c.linear(p, "linear_1", v.hidden_size, t.hidden_size, true),
    linear2: c.linear(p, "linear_2", t.hidden_size, t.hidden_size, true),
  };
}

/** Qwen2: RMSNorm, grouped-query attention with biased q/k/v, SwiGLU. */
function qwen2Table(t: TextConfig, c: Collector): LanguageModelSpec {
  const D = t.hidden_size;
  const hd = D / t.num_attention_heads;
  const qDim = t.num_attention_heads * hd;
  const kvDim = t.num_key_value_heads * hd;
  const F = t.intermediate_size;
  const embedTokens = c.tensor(`${LANGUAGE}.embed_tokens.weight`, [t.vocab_size, D], "normal");
  const layers = Array.from({ length: t.num_hidden_layers }, (_, i): DecoderLayerSpec => {
    const p = `${LANGUAGE}.layers.${i}`;
    const inputNorm = c.norm(`${p}.input_layernorm`, D, false);
    const postAttentionNorm = c.norm(`${p}.post_attention_layernorm`, D, false);
    return {
      inputNorm,
      postAttentionNorm,
      q: c.linear(`${p}.self_attn`, "q_proj", D, qDim, true),
      k: c.linear(`${p}.self_attn`, "k_proj", D, kvDim, true),
      v: c.linear(`${p}.self_attn`, "v_proj", D, kvDim, true),
      o: c.linear(`${p}.self_attn`, "o_proj", qDim, D, false),
      gate: c.linear(`${p}.mlp`, "gate_proj", D, F, false),
      up: c.linear(`${p}.mlp`, "up_proj", D, F, false),
      down: c.linear(`${p}.mlp`, "down_proj", F, D, false),
    };
  });
  const norm = c.norm(`${LANGUAGE}.norm`, D, false);
  const lmHead = t.tie_word_embeddings ? null : c.tensor("lm_head.weight", [t.vocab_size, D], "normal");
  return { embedTokens, layers, norm, lmHead };
}

/** The whole table for a configuration; build it once per model. */
export function llavaWeightTable(config: ModelConfig): LlavaWeightTable {
  const v = config.vision_config;
  const t = config.text_config;
  const vision = new Collector("vision");
  const projector = new Collector("projector");
  const language = new Collector("language");
  const head = new Collector("head");
  const visionSpec = siglipTable(v, vision);
  // transformers keeps image_newline on the model itself; it is counted with the projector.
  const imageNewline = projector.tensor("model.image_newline", [t.hidden_size], "normal");
  const projectorSpec = projectorTable(v, t, projector);
  const languageSpec = qwen2Table(t, language);
  const L = config.radfleet.num_labels;
  const classifier = {
    weight: head.tensor("classifier.weight", [L, t.hidden_size], "normal"),
    bias: head.tensor("classifier.bias", [L], "zeros"),
  };
  const parts = [vision, projector, language, head];
  return {
    vision: visionSpec,
    imageNewline,
    projector: projectorSpec,
    language: languageSpec,
    classifier,
    tensors: parts.flatMap((p) => p.tensors),
    linears: parts.flatMap((p) => p.linears),
  };
}

/** Every tensor the configuration implies, with its shape (PyTorch layouts), in checkpoint order. */
export function expectedShapes(config: ModelConfig): Map<string, number[]> {
  return new Map(llavaWeightTable(config).tensors.map((t) => [t.name, t.shape]));
}

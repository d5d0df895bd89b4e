// The model's configuration: the subset of Hugging Face's LlavaOnevisionConfig that radfleet's
// architecture reads, with the same field names, so a real checkpoint's config.json loads as is.
// Fields radfleet adds (the multitask head) live under "radfleet".

export interface VisionConfig {
  hidden_size: number; // D_v
  intermediate_size: number; // MLP width
  num_hidden_layers: number;
  num_attention_heads: number;
  image_size: number; // square input side in pixels
  patch_size: number; // square patch side; N = (image_size / patch_size)^2 patches
  num_channels: number;
  layer_norm_eps: number;
}

export interface TextConfig {
  vocab_size: number;
  hidden_size: number; // D
  intermediate_size: number; // SwiGLU width
  num_hidden_layers: number;
  num_attention_heads: number; // query heads
  num_key_value_heads: number; // GQA: key/value heads (divides num_attention_heads)
  rms_norm_eps: number;
  rope_theta: number;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
}

export interface ModelConfig {
  model_type: "llava_onevision";
  image_token_index: number;
  /** Which vision encoder layer's output feeds the projector (-1: the last, before post-LN). */
  vision_feature_layer: number;
  vision_feature_select_strategy: "full" | "default";
  projector_hidden_act: "gelu";
  /**
   * anyres resolutions [height, width], multiples of vision_config.image_size: an image is resized
   * into the best one for its size and cut into tiles of image_size (see anyres.ts). Empty
   * (radfleet's tiny preset) means base image only, at the tower's resolution.
   */
  image_grid_pinpoints: number[][];
  /** "anyres_max_N": a packed tile grid of more than about N tiles' features is shrunk to about N (real checkpoints: 9). */
  vision_aspect_ratio: string;
  vision_config: VisionConfig;
  text_config: TextConfig;
  radfleet: { num_labels: number };
}

/**
 * Patches along a side of the tower's input: image_size // patch_size, as SigLIP's stride-p
 * convolution sees them (384 / 14 → 27: the last 6 pixel rows and columns are never read).
 */
export function patchesPerSide(v: VisionConfig): number {
  return Math.floor(v.image_size / v.patch_size);
}

/**
 * The built-in tiny configuration: trains on a 2-core CPU. Vision: 64×64 input (3 channels, the
 * greyscale X-ray repeated), 8×8 patches → 64 patches + 1 image_newline = 65 image tokens, 2 SigLIP
 * layers of width 64 (4 heads, MLP 128). Projector 64 → 128 → 128. Language model: 2 Qwen2 layers of
 * width 128, 4 query heads sharing 2 key/value heads (head dim 32), SwiGLU 256, tied embeddings, a
 * word-level vocabulary V sized to the report corpus. Parameters: 83,520 vision + 24,960 projector +
 * (296,064 + 128·V) language + 1,806 head — 438,094 with the built-in 248-word vocabulary, 598,350
 * at V = 1,500. No anyres tiles (image_grid_pinpoints empty): one base image per sample.
 */
export function tinyConfig(vocabSize: number, imageSize = 64): ModelConfig {
  return {
    model_type: "llava_onevision",
    image_token_index: 3,
    vision_feature_layer: -1,
    vision_feature_select_strategy: "full",
    projector_hidden_act: "gelu",
    image_grid_pinpoints: [],
    vision_aspect_ratio: "anyres_max_9",
    vision_config: {
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      image_size: imageSize,
      patch_size: 8,
      num_channels: 3,
      layer_norm_eps: 1e-6,
    },
    text_config: {
      vocab_size: vocabSize,
      hidden_size: 128,
      intermediate_size: 256,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1_000_000,
      max_position_embeddings: 512,
      tie_word_embeddings: true,
    },
    radfleet: { num_labels: 14 },
  };
}

/**
 * The built-in small configuration, between tiny and the 0.5B model: large enough that matmuls, not
 * per-op dispatch, dominate a step, so it measures the tensor engine. Vision: 128×128 input, 16×16
 * patches → 64 patches + 1 image_newline, 4 SigLIP layers of width 256 (4 heads of 64, MLP 1024).
 * Projector 256 → 512 → 512. Language model: 6 Qwen2 layers of width 512, 8 query heads sharing 4
 * key/value heads (head dim 64), SwiGLU 1408 (≈ 8/3 · 512, rounded to 64), tied embeddings.
 * Parameters: 3,372,800 vision + 512 image_newline + 394,240 projector + (17,707,520 + 512·V)
 * language + 7,182 head — 21,609,230 with the built-in 248-word vocabulary.
 */
export function smallConfig(vocabSize: number, imageSize = 128): ModelConfig {
  const c = tinyConfig(vocabSize, imageSize);
  c.vision_config = {
    ...c.vision_config,
    hidden_size: 256,
    intermediate_size: 1024,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    patch_size: 16,
  };
  c.text_config = {
    ...c.text_config,
    hidden_size: 512,
    intermediate_size: 1408,
    num_hidden_layers: 6,
    num_attention_heads: 8,
    num_key_value_heads: 4,
  };
  return c;
}

/**
 * The real LLaVA-OneVision Qwen2 configurations (llava-hf/llava-onevision-qwen2-{0.5b,7b}-ov-hf),
 * for GPU nodes. Memory in NF4 with double quantization: about 4.127 bits per quantized parameter,
 * so the 7B language model's ~6.5e9 linear weights take ~3.4 GB, plus float embeddings
 * (152k × 3584 × 4 B ≈ 2.2 GB, or half in bf16), the SigLIP-400M tower (~1.6 GB in float32) and
 * activations; the 0.5B model fits in ~2 GB. Add quantization.cacheDequantizedMiB (default 1 GiB)
 * of cached float copies; the other NF4 layers dequantize on each use.
 */
export function realConfig(name: "llava-onevision-qwen2-0.5b" | "llava-onevision-qwen2-7b"): ModelConfig {
  const vision: VisionConfig = {
    hidden_size: 1152,
    intermediate_size: 4304,
    num_hidden_layers: 26,
    num_attention_heads: 16,
    image_size: 384,
    patch_size: 14,
    num_channels: 3,
    layer_norm_eps: 1e-6,
  };
  const text: TextConfig =
    name === "llava-onevision-qwen2-7b"
      ? {
          vocab_size: 152128,
          hidden_size: 3584,
          intermediate_size: 18944,
          num_hidden_layers: 28,
          num_attention_heads: 28,
          num_key_value_heads: 4,
          rms_norm_eps: 1e-6,
          rope_theta: 1_000_000,
          max_position_embeddings: 32768,
          tie_word_embeddings: false,
        }
      : {
          vocab_size: 151936,
          hidden_size: 896,
          intermediate_size: 4864,
          num_hidden_layers: 24,
          num_attention_heads: 14,
          num_key_value_heads: 2,
          rms_norm_eps: 1e-6,
          rope_theta: 1_000_000,
          max_position_embeddings: 32768,
          tie_word_embeddings: true,
        };
  return {
    model_type: "llava_onevision",
    image_token_index: 151646,
    vision_feature_layer: -1,
    vision_feature_select_strategy: "full",
    projector_hidden_act: "gelu",
    // 1×1 … 6×6 tiles of 384 pixels, as the llava-hf configs list them
    image_grid_pinpoints: Array.from({ length: 36 }, (_, k) => [
      384 * (Math.floor(k / 6) + 1),
      384 * ((k % 6) + 1),
    ]),
    vision_aspect_ratio: "anyres_max_9",
    vision_config: vision,
    text_config: text,
    radfleet: { num_labels: 14 },
  };
}

/** Reads a config.json object, filling radfleet's defaults; names the field that is wrong. */
export function parseModelConfig(raw: Record<string, unknown>, source: string): ModelConfig {
  const v = raw.vision_config as Record<string, unknown> | undefined;
  const t = raw.text_config as Record<string, unknown> | undefined;
  if (!v || !t) throw new Error(`${source}: expected vision_config and text_config objects`);
  const num = (o: Record<string, unknown>, k: string, where: string, def?: number): number => {
    const x = o[k] ?? def;
    if (typeof x !== "number")
      throw new Error(`${source}: ${where}.${k}: expected a number, got ${JSON.stringify(x)}`);
    return x;
  };
  const vl = raw.vision_feature_layer ?? -1;
  if (typeof vl !== "number") {
    throw new Error(
      `${source}: vision_feature_layer: radfleet supports one layer index, got ${JSON.stringify(vl)}`,
    );
  }
  const imageSize = num(v, "image_size", "vision_config");
  const rawPinpoints = raw.image_grid_pinpoints ?? [];
  if (!Array.isArray(rawPinpoints))
    throw new Error(
      `${source}: image_grid_pinpoints: expected a list of [height, width], got ${JSON.stringify(rawPinpoints)}`,
    );
  const pinpoints = rawPinpoints as unknown[];
  pinpoints.forEach((p, i) => {
    // transformers cuts the padded resolution into image_size tiles and counts them by floor
    // division, so a resolution that is not a multiple cannot be packed (there either)
    if (
      !Array.isArray(p) ||
      p.length !== 2 ||
      !p.every((x) => typeof x === "number" && Number.isInteger(x) && x > 0 && x % imageSize === 0)
    ) {
      throw new Error(
        `${source}: image_grid_pinpoints[${i}]: expected [height, width], positive multiples of vision_config.image_size (${imageSize}), got ${JSON.stringify(p)}`,
      );
    }
  });
  const aspect = typeof raw.vision_aspect_ratio === "string" ? raw.vision_aspect_ratio : "anyres_max_9";
  if (pinpoints.length > 0 && !/^anyres_max_[1-9]\d*$/.test(aspect)) {
    throw new Error(
      `${source}: vision_aspect_ratio: with image_grid_pinpoints radfleet implements "anyres_max_N" (N >= 1), as the llava-hf checkpoints use, got ${JSON.stringify(raw.vision_aspect_ratio)}`,
    );
  }
  if (pinpoints.length > 0 && raw.vision_feature_select_strategy === "default") {
    throw new Error(
      `${source}: vision_feature_select_strategy "default" with image_grid_pinpoints: the anyres packing needs all (image_size/patch_size)² features ("full"), as in transformers`,
    );
  }
  // Transformers 5 moved rope_theta into text_config.rope_parameters.
  const ropeParams = (t.rope_parameters ?? {}) as Record<string, unknown>;
  const ropeTheta = t.rope_theta ?? ropeParams.rope_theta ?? 10000;
  if (ropeParams.rope_type !== undefined && ropeParams.rope_type !== "default") {
    throw new Error(
      `${source}: text_config.rope_parameters.rope_type ${JSON.stringify(ropeParams.rope_type)} is not supported (only "default")`,
    );
  }
  for (const [where, o, key, want] of [
    ["vision_config", v, "hidden_act", "gelu_pytorch_tanh"],
    ["text_config", t, "hidden_act", "silu"],
    ["config", raw, "projector_hidden_act", "gelu"],
  ] as const) {
    if (o[key] !== undefined && o[key] !== want) {
      throw new Error(
        `${source}: ${where}.${key}: radfleet implements ${JSON.stringify(want)}, got ${JSON.stringify(o[key])}`,
      );
    }
  }
  return {
    model_type: "llava_onevision",
    image_token_index: num(raw, "image_token_index", "config"),
    vision_feature_layer: vl,
    vision_feature_select_strategy: raw.vision_feature_select_strategy === "default" ? "default" : "full",
    projector_hidden_act: "gelu",
    image_grid_pinpoints: pinpoints as number[][],
    vision_aspect_ratio: aspect,
    vision_config: {
      hidden_size: num(v, "hidden_size", "vision_config"),
      intermediate_size: num(v, "intermediate_size", "vision_config"),
      num_hidden_layers: num(v, "num_hidden_layers", "vision_config"),
      num_attention_heads: num(v, "num_attention_heads", "vision_config"),
      image_size: num(v, "image_size", "vision_config"),
      patch_size: num(v, "patch_size", "vision_config"),
      num_channels: num(v, "num_channels", "vision_config", 3),
      layer_norm_eps: num(v, "layer_norm_eps", "vision_config", 1e-6),
    },
    text_config: {
      vocab_size: num(t, "vocab_size", "text_config"),
      hidden_size: num(t, "hidden_size", "text_config"),
      intermediate_size: num(t, "intermediate_size", "text_config"),
      num_hidden_layers: num(t, "num_hidden_layers", "text_config"),
      num_attention_heads: num(t, "num_attention_heads", "text_config"),
      num_key_value_heads: num(t, "num_key_value_heads", "text_config"),
      rms_norm_eps: num(t, "rms_norm_eps", "text_config", 1e-6),
      rope_theta: num({ rope_theta: ropeTheta }, "rope_theta", "text_config"),
      max_position_embeddings: num(t, "max_position_embeddings", "text_config", 32768),
      tie_word_embeddings:
        t.tie_word_embeddings === true ||
        (t.tie_word_embeddings === undefined && raw.tie_word_embeddings === true),
    },
    radfleet: { num_labels: Number((raw.radfleet as { num_labels?: number } | undefined)?.num_labels ?? 14) },
  };
}

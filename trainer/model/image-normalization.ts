// The pixels' normalisation, two of them: radfleet's data pipeline gives the model greyscale pixels
// as (p/255 − PIXEL_MEAN) / PIXEL_STD (trainer/data/image.ts; its cache and the training recipe keep
// that), while a checkpoint's vision tower was trained on its image processor's
// (p/255 − image_mean[c]) / image_std[c] (preprocessor_config.json; llava-hf's -ov-hf SigLIP: 0.5 /
// 0.5, i.e. [-1, 1]). The model converts the first into the second with a per-channel affine
// (image-embedder.ts, towerPixels) before anything else touches the pixels.
import { PIXEL_MEAN, PIXEL_STD } from "../data/index.js";
import type { ModelConfig } from "./config.js";

/** What a vision tower expects, per channel, as preprocessor_config.json says: (p/255 − imageMean[c]) / imageStd[c]. */
export interface ImageNormalization {
  imageMean: number[]; // [C]
  imageStd: number[]; // [C]
}

/** The data pipeline's own normalisation: the tiny preset and the shipped tiny base were trained on it. */
export function pipelineNormalization(channels: number): ImageNormalization {
  return {
    imageMean: new Array<number>(channels).fill(PIXEL_MEAN),
    imageStd: new Array<number>(channels).fill(PIXEL_STD),
  };
}

/** SigLIP's, as llava-hf/llava-onevision-qwen2-*-ov-hf's preprocessor_config.json lists it. */
export function siglipNormalization(channels: number): ImageNormalization {
  return {
    imageMean: new Array<number>(channels).fill(0.5),
    imageStd: new Array<number>(channels).fill(0.5),
  };
}

/**
 * The normalisation a model without preprocessor_config.json gets: the pipeline's for the built-in
 * presets (tiny, small; and no preset), SigLIP's 0.5 / 0.5 for the real presets.
 */
export function defaultNormalization(preset: string | undefined, channels: number): ImageNormalization {
  return preset === undefined || preset === "tiny" || preset === "small"
    ? pipelineNormalization(channels)
    : siglipNormalization(channels);
}

/**
 * The per-channel affine from the pipeline's normalisation to the tower's: with p/255 = x·PIXEL_STD
 * + PIXEL_MEAN, the tower's value is x·scale[c] + shift[c], scale = PIXEL_STD / std[c], shift =
 * (PIXEL_MEAN − mean[c]) / std[c]. black[c] = −mean[c] / std[c] is black in the tower's units (what
 * anyres pads with: the processor pads raw pixels with 0 before it normalises). identity: scale 1
 * and shift 0 on every channel (the tiny preset), so the pixels can pass untouched.
 */
export function pixelAffine(norm: ImageNormalization): {
  scale: number[]; // [C]
  shift: number[]; // [C]
  black: number[]; // [C]
  identity: boolean;
} {
  const scale = norm.imageStd.map((s) => PIXEL_STD / s);
  const shift = norm.imageMean.map((m, c) => (PIXEL_MEAN - m) / norm.imageStd[c]);
  const black = norm.imageMean.map((m, c) => -m / norm.imageStd[c]);
  return { scale, shift, black, identity: scale.every((s) => s === 1) && shift.every((s) => s === 0) };
}

const RESCALE = 1 / 255;

/**
 * preprocessor_config.json's normalisation (image_mean / image_std, one number per channel or one
 * for all; do_normalize false: none). Refuses what the conversion cannot express: a missing or
 * malformed image_mean / image_std, or a tower fed other than p/255 (do_rescale false, another
 * rescale_factor). Errors name the file (`source`) and the field.
 */
export function parsePreprocessorConfig(raw: unknown, channels: number, source: string): ImageNormalization {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new Error(`${source}: expected a JSON object (an image processor's settings)`);
  const o = raw as Record<string, unknown>;
  if (o.do_rescale === false || (o.rescale_factor !== undefined && !isRescale(o.rescale_factor))) {
    const field = o.do_rescale === false ? "do_rescale" : "rescale_factor";
    throw new Error(
      `${source}: ${field}: radfleet gives the vision tower pixels rescaled by 1/255 before normalising; got ${field} ${JSON.stringify(o[field])}`,
    );
  }
  if (o.do_normalize === false)
    return { imageMean: new Array<number>(channels).fill(0), imageStd: new Array<number>(channels).fill(1) };
  const perChannel = (field: "image_mean" | "image_std"): number[] => {
    const x = o[field];
    const values = typeof x === "number" ? new Array<number>(channels).fill(x) : x;
    const ok =
      Array.isArray(values) &&
      values.length === channels &&
      values.every((v) => typeof v === "number" && Number.isFinite(v) && (field === "image_mean" || v > 0));
    if (!ok) {
      const what = field === "image_std" ? "positive numbers" : "numbers";
      throw new Error(
        `${source}: ${field}: expected ${channels} ${what} (one per channel, vision_config.num_channels) or one for all, got ${JSON.stringify(x)}`,
      );
    }
    return values as number[];
  };
  return { imageMean: perChannel("image_mean"), imageStd: perChannel("image_std") };
}

function isRescale(x: unknown): boolean {
  return typeof x === "number" && Math.abs(x - RESCALE) <= 1e-6 * RESCALE;
}

/**
 * preprocessor_config.json for a saved model: the checkpoint's own settings when it had them
 * (`base`), else LlavaOnevisionImageProcessor's for this config, with the normalisation the model
 * uses.
 */
export function preprocessorConfigJson(
  config: ModelConfig,
  norm: ImageNormalization,
  base: Record<string, unknown> | null,
): Record<string, unknown> {
  const s = config.vision_config.image_size;
  return {
    ...(base ?? {
      image_processor_type: "LlavaOnevisionImageProcessor",
      do_convert_rgb: true,
      do_resize: true,
      size: { height: s, width: s },
      resample: 3, // bicubic
      do_pad: true,
      image_grid_pinpoints: config.image_grid_pinpoints,
    }),
    do_rescale: true,
    rescale_factor: RESCALE,
    do_normalize: true,
    image_mean: norm.imageMean,
    image_std: norm.imageStd,
  };
}

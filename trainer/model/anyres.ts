// LLaVA-OneVision's "anyres" image handling, as transformers does it:
//   image side (LlavaOnevisionImageProcessor, torchvision backend): pick the best pinpoint
//   resolution for the original (height, width), resize keeping aspect (bicubic, antialiased), pad
//   with black to the resolution, cut into tiles of the tower's image_size, and put the whole image
//   resized to image_size first;
//   feature side (pack_image_features): lay the tiles' features out as one grid, cut the rows or
//   columns that only saw padding (unpad_image), shrink the grid bilinearly when it holds more than
//   anyres_max_N tiles' worth of features, close each row with image_newline, base image first.
// The arithmetic here is shared by the packing and the token count, so a prompt always holds as
// many image tokens as the packing produces; both follow the processor's integer and float rules
// (Python's floor division and round(x, 7)) so the counts equal transformers' for every size.
import * as tf from "@tensorflow/tfjs";
import { patchesPerSide, type ModelConfig } from "./config.js";

/** How one original (height, width) is tiled and packed; all sizes in pixels or in features. */
export interface AnyresLayout {
  /** The chosen pinpoint [height, width]. */
  resolution: [number, number];
  /** Tiles down and across: resolution / image_size. */
  gridRows: number;
  gridCols: number;
  /** The image resized into the resolution with its aspect kept, before padding: [height, width]. */
  resized: [number, number];
  /** Black padding around the resized image: top, bottom, left, right. */
  pad: [number, number, number, number];
  /** The part of the (gridRows·g) × (gridCols·g) feature grid kept by unpad_image: [start, end). */
  keepRows: [number, number];
  keepCols: [number, number];
  /** The grid after the anyres_max_N rule (equal to the kept part when it is small enough). */
  outRows: number;
  outCols: number;
  /** Image tokens: the base image's g² features, then outRows rows of outCols features + image_newline. */
  numImageTokens: number;
}

/** transformers' select_best_resolution: most of the original's pixels kept, then least padding. */
export function selectBestResolution(height: number, width: number, pinpoints: number[][]): [number, number] {
  let best: [number, number] | null = null;
  let maxEffective = 0;
  let minWasted = Infinity;
  for (const [h, w] of pinpoints) {
    const scale = Math.min(w / width, h / height);
    const effective = Math.min(Math.trunc(width * scale) * Math.trunc(height * scale), width * height);
    const wasted = w * h - effective;
    if (effective > maxEffective || (effective === maxEffective && wasted < minWasted)) {
      maxEffective = effective;
      minWasted = wasted;
      best = [h, w];
    }
  }
  if (!best) throw new Error(`no image_grid_pinpoints to choose from for a ${height}×${width} image`);
  return best;
}

/** Python's float floor division a // b for a >= 0, b > 0 (it rounds the quotient differently from Math.floor(a / b)). */
export function pyFloorDiv(a: number, b: number): number {
  const mod = a % b; // fmod, as CPython's float_floor_div
  const div = (a - mod) / b;
  let floor = Math.floor(div);
  if (div - floor > 0.5) floor += 1;
  return floor;
}

/** int(round(x, 7)) for x >= 0: toFixed rounds the exact binary value to 7 decimals, as Python's round does (ties cannot move the integer part). */
function intRound7(x: number): number {
  return Math.trunc(Number(x.toFixed(7)));
}

/** N of vision_aspect_ratio "anyres_max_N". */
export function anyresMaxTiles(visionAspectRatio: string): number {
  const m = /^anyres_max_(\d+)$/.exec(visionAspectRatio);
  if (!m || Number(m[1]) < 1)
    throw new Error(
      `vision_aspect_ratio: expected "anyres_max_N" with N >= 1, got ${JSON.stringify(visionAspectRatio)}`,
    );
  return Number(m[1]);
}

/** The layout transformers gives an original height × width under this config (image_grid_pinpoints non-empty). */
export function anyresLayout(config: ModelConfig, height: number, width: number): AnyresLayout {
  const s = config.vision_config.image_size;
  const g = patchesPerSide(config.vision_config);
  const [rh, rw] = selectBestResolution(height, width, config.image_grid_pinpoints);
  // get_patch_output_size: fit the image into the resolution, keeping its aspect
  const scaleW = rw / width;
  const scaleH = rh / height;
  const resized: [number, number] =
    scaleW < scaleH
      ? [Math.min(Math.ceil(height * scaleW), rh), rw]
      : [rh, Math.min(Math.ceil(width * scaleH), rw)];
  const padY = Math.floor((rh - resized[0]) / 2);
  const padX = Math.floor((rw - resized[1]) / 2);
  const pad: [number, number, number, number] = [padY, rh - resized[0] - padY, padX, rw - resized[1] - padX];
  // unpad_image on the feature grid: drop the rows (or columns) that saw only padding, symmetrically
  const gridRows = Math.floor(rh / s);
  const gridCols = Math.floor(rw / s);
  const curH = gridRows * g;
  const curW = gridCols * g;
  let keepRows: [number, number] = [0, curH];
  let keepCols: [number, number] = [0, curW];
  if (width / height > curW / curH) {
    const p = Math.floor((curH - intRound7(height * (curW / width))) / 2);
    keepRows = [p, curH - p];
  } else {
    const p = Math.floor((curW - intRound7(width * (curH / height))) / 2);
    keepCols = [p, curW - p];
  }
  let outRows = keepRows[1] - keepRows[0];
  let outCols = keepCols[1] - keepCols[0];
  // anyres_max_N: more than ~N tiles' worth of features (10% slack) is shrunk to about N tiles' worth
  const ratio = Math.sqrt((outRows * outCols) / (anyresMaxTiles(config.vision_aspect_ratio) * g * g));
  if (ratio > 1.1) {
    outRows = Math.trunc(pyFloorDiv(outRows, ratio));
    outCols = Math.trunc(pyFloorDiv(outCols, ratio));
  }
  return {
    resolution: [rh, rw],
    gridRows,
    gridCols,
    resized,
    pad,
    keepRows,
    keepCols,
    outRows,
    outCols,
    numImageTokens: g * g + outRows * (outCols + 1),
  };
}

/** Kernel of torch's antialiased bicubic resize: Keys' cubic with a = -0.5 (PIL's). */
function cubicAa(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/**
 * [out, in] interpolation weights of torch.nn.functional.interpolate(mode="bicubic",
 * antialias=True, align_corners=False) along one axis, which torchvision's resize uses for
 * tensors: the kernel is widened by the scale when shrinking, truncated at the borders and each
 * row renormalised to sum 1.
 */
export function bicubicAaWeights(inSize: number, outSize: number): Float32Array {
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const w = new Float32Array(outSize * inSize); // [out, in]
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let j = lo; j < hi; j++) total += cubicAa((j - center + 0.5) * invScale);
    for (let j = lo; j < hi; j++)
      w[i * inSize + j] = total === 0 ? 0 : cubicAa((j - center + 0.5) * invScale) / total;
  }
  return w;
}

/** [out, in] weights of torch's bilinear interpolate (align_corners=False, no antialias) along one axis. */
export function bilinearWeights(inSize: number, outSize: number): Float32Array {
  const scale = inSize / outSize;
  const w = new Float32Array(outSize * inSize); // [out, in]
  for (let i = 0; i < outSize; i++) {
    const src = Math.max(scale * (i + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.trunc(src), inSize - 1);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    const l1 = Math.min(Math.max(src - i0, 0), 1);
    w[i * inSize + i0] += 1 - l1;
    w[i * inSize + i1] += l1;
  }
  return w;
}

/**
 * Resizes x [B, H, W, C] to [B, outH, outW, C], one axis at a time, with the given per-axis
 * weights (rows: [outH, H], columns: [outW, W]); an axis whose size does not change is left as is.
 */
export function resizeSeparable(
  x: tf.Tensor4D,
  outH: number,
  outW: number,
  weights: (inSize: number, outSize: number) => Float32Array,
): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  let y: tf.Tensor4D = x;
  if (outH !== H) {
    const wH = tf.tensor2d(weights(H, outH), [outH, H]); // [H', H]
    y = tf
      .matMul(wH, y.transpose([1, 0, 2, 3]).reshape([H, B * W * C])) // [H', B·W·C]
      .reshape([outH, B, W, C])
      .transpose([1, 0, 2, 3]) as tf.Tensor4D; // [B, H', W, C]
  }
  if (outW !== W) {
    const wW = tf.tensor2d(weights(W, outW), [outW, W]); // [W', W]
    y = tf
      .matMul(wW, y.transpose([2, 0, 1, 3]).reshape([W, B * outH * C])) // [W', B·H'·C]
      .reshape([outW, B, outH, C])
      .transpose([1, 2, 0, 3]) as tf.Tensor4D; // [B, H', W', C]
  }
  return y;
}

/**
 * The processor's pixel_values for a batch of same-sized images: pixels [B, H, W, C] (already
 * normalised) → [B, 1 + tiles, s, s, C], the whole image resized to s × s first, then the tiles
 * of the padded resolution row by row. `padValue` is black in the pixels' normalisation (the
 * processor pads with 0 before it normalises): one value, or one per channel.
 */
export function anyresTiles(
  pixels: tf.Tensor4D,
  layout: AnyresLayout,
  s: number,
  padValue: number | number[],
): tf.Tensor5D {
  const [B, , , C] = pixels.shape;
  const base = resizeSeparable(pixels, s, s, bicubicAaWeights); // [B, s, s, C]
  const fitted = resizeSeparable(pixels, layout.resized[0], layout.resized[1], bicubicAaWeights); // [B, h', w', C]
  const [top, bottom, left, right] = layout.pad;
  const paddings: Array<[number, number]> = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  const values = typeof padValue === "number" ? [padValue] : padValue;
  if (values.length !== 1 && values.length !== C)
    throw new Error(`anyres padding: ${values.length} pad values for ${C} channels`);
  // One black for all channels pads directly; per-channel blacks pad (x − black) with 0 and add black back.
  const padded = values.every((v) => v === values[0])
    ? tf.pad(fitted, paddings, values[0]) // [B, RH, RW, C]
    : (tf.add(tf.pad(tf.sub(fitted, tf.tensor1d(values)), paddings, 0), tf.tensor1d(values)) as tf.Tensor4D); // [B, RH, RW, C]
  const { gridRows: nr, gridCols: nc } = layout;
  const tiles = padded
    .reshape([B, nr, s, nc, s, C])
    .transpose([0, 1, 3, 2, 4, 5]) // [B, nr, nc, s, s, C]
    .reshape([B, nr * nc, s, s, C]); // [B, tiles, s, s, C]
  return tf.concat([base.expandDims(1), tiles], 1) as tf.Tensor5D; // [B, 1 + tiles, s, s, C]
}

// From pixels to the decoder's image inputs, as LLaVA-OneVision does it: convert the pipeline's
// normalisation to the tower's, tile anyres images, encode each tile (vision tower + projector) and
// pack the features with image_newline the way transformers' pack_image_features does.
import * as tf from "@tensorflow/tfjs";
import { anyresLayout, anyresTiles, bilinearWeights, resizeSeparable } from "./anyres.js";
import { patchesPerSide, type ModelConfig } from "./config.js";
import type { ForwardOptions } from "./forward-options.js";
import type { pixelAffine } from "./image-normalization.js";
import type { ParameterStore } from "./parameter-store.js";
import { Projector } from "./projector.js";
import { VisionTower } from "./vision-tower.js";
import type { LlavaWeightTable } from "./weight-table.js";

export class ImageEmbedder {
  private readonly tower: VisionTower;
  private readonly projector: Projector;
  private readonly newline: tf.Tensor; // [D]

  constructor(
    private readonly config: ModelConfig,
    table: LlavaWeightTable,
    store: ParameterStore,
    /** pipeline → tower units, per channel (see pixelAffine). */
    private readonly affine: ReturnType<typeof pixelAffine>,
  ) {
    this.tower = new VisionTower(table.vision, store, config);
    this.projector = new Projector(table.projector, store);
    this.newline = store.tensor(table.imageNewline);
  }

  /**
   * Image tokens a prompt must hold for an image of height × width, as transformers'
   * LlavaOnevisionProcessor counts them: with image_grid_pinpoints, the base image's patches and the
   * packed anyres grid (see pack); without (radfleet's tiny preset), the base image and one
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

  /**
   * Pixels [B, H, W, C] in the data pipeline's normalisation → the same in the tower's: x·scale[c] +
   * shift[c]. The pixels themselves when the two agree (the tiny preset). Anyres resizing and
   * padding come after, in the tower's units, as in the processor (which resizes and pads raw
   * pixels, then normalises; resizing commutes with the affine).
   */
  towerPixels(pixels: tf.Tensor4D): tf.Tensor4D {
    const { scale, shift, identity } = this.affine;
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
    return anyresTiles(pixels, anyresLayout(this.config, H, W), s, this.affine.black); // [B, 1 + tiles, s, s, C]
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
  pack(features: tf.Tensor4D, height: number, width: number): tf.Tensor3D {
    const [B, , N, D] = features.shape;
    const newline = this.newline; // [D]
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

  /** Tower + projector on images at the tower's resolution: [B, s, s, C] → [B, N, D]. */
  private encode(pixels: tf.Tensor4D, o: ForwardOptions): tf.Tensor3D {
    return this.projector.forward(this.tower.forward(pixels, o), o); // [B, N, D]
  }

  /** pixels [B, H, W, C] (the data pipeline's normalisation) → the images' decoder inputs [B, numImageTokensFor(H, W), D]. */
  forward(input: tf.Tensor4D, o: ForwardOptions): tf.Tensor3D {
    const pixels = this.towerPixels(input); // [B, H, W, C], the tower's normalisation
    const [B, H, W] = pixels.shape;
    const s = this.config.vision_config.image_size;
    if (this.config.image_grid_pinpoints.length === 0) {
      this.checkTowerSize(H, W);
      const f = this.encode(pixels, o); // [B, N, D]
      return this.pack(f.expandDims(1) as tf.Tensor4D, H, W); // [B, N+1, D]
    }
    const L = anyresLayout(this.config, H, W);
    if (H === s && W === s && L.gridRows === 1 && L.gridCols === 1) {
      // At the tower's resolution with a 1×1 grid the only tile is the base image itself (no
      // resize, no padding): encode it once and use its features twice.
      const f = this.encode(pixels, o).expandDims(1); // [B, 1, N, D]
      return this.pack(tf.concat([f, f], 1) as tf.Tensor4D, H, W); // [B, M, D]
    }
    const tiles = this.imageTiles(pixels); // [B, 1 + n, s, s, C]
    const n = tiles.shape[1];
    const flat = tiles.reshape([B * n, s, s, tiles.shape[4]]) as tf.Tensor4D; // [B·(1+n), s, s, C]
    const f = this.encode(flat, o); // [B·(1+n), N, D]
    return this.pack(f.reshape([B, n, f.shape[1], f.shape[2]]) as tf.Tensor4D, H, W); // [B, M, D]
  }
}

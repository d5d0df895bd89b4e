// The pixels' normalisation: the data pipeline's (p/255 − 0.5) / 0.25 converted inside the model to
// the checkpoint's preprocessor_config.json image_mean / image_std, anyres padding in the tower's
// units, malformed files refused by field, defaults per preset, and saveBase writing what it used.
import * as tf from "@tensorflow/tfjs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadImage, PIXEL_MEAN, PIXEL_STD } from "../../trainer/data/index.js";
import {
  buildModel,
  parsePreprocessorConfig,
  pipelineNormalization,
  pixelAffine,
  siglipNormalization,
  type ModelBuildOptions,
} from "../../trainer/model/index.js";
import { anyresLayout } from "../../trainer/model/anyres.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/model");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "radfleet-image-norm-"));
  await tf.setBackend("cpu");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = (path?: string): ModelBuildOptions => ({
  path,
  quantization: { type: "none", blockSize: 64, doubleQuant: false },
  lora: { r: 2, alpha: 4, dropout: 0, rslora: false, targetModules: ["o_proj"] },
  head: { pooling: "vision" },
  seed: 1,
});

/** A copy of a fixture checkpoint (no preprocessor_config.json there), with `preprocessor` as its preprocessor_config.json when given. */
async function checkpoint(fixture: string, name: string, preprocessor?: unknown): Promise<string> {
  const out = join(dir, name);
  await mkdir(out, { recursive: true });
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"])
    await copyFile(join(FIXTURES, fixture, f), join(out, f));
  if (preprocessor !== undefined)
    await writeFile(
      join(out, "preprocessor_config.json"),
      typeof preprocessor === "string" ? preprocessor : JSON.stringify(preprocessor),
    );
  return out;
}

const SIGLIP = { image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };

/** Greyscale bytes [S·S] through a lossless PNG and the data pipeline's loadImage: [1, S, S, 3] and the bytes. */
async function pipelineImage(S: number): Promise<{ pixels: tf.Tensor4D; bytes: Uint8Array }> {
  const bytes = Uint8Array.from({ length: S * S }, (_, i) => (i * 37) % 256);
  const png = join(dir, `grey-${S}.png`);
  await sharp(Buffer.from(bytes), { raw: { width: S, height: S, channels: 1 } })
    .png()
    .toFile(png);
  const grey = await loadImage(png, { size: S }); // [S·S]
  const rgb = Float32Array.from({ length: S * S * 3 }, (_, i) => grey[Math.floor(i / 3)]); // [S, S, 3]
  return { pixels: tf.tensor4d(rgb, [1, S, S, 3]), bytes };
}

describe("a checkpoint's preprocessor_config.json", () => {
  it("0.5 / 0.5: the tower gets exactly (p/255 − 0.5) / 0.5 for the pipeline's (p/255 − 0.5) / 0.25", async () => {
    const path = await checkpoint("tiny-llava", "siglip", SIGLIP);
    const m = await buildModel(spec(path));
    expect(m.imageNormalization).toEqual(siglipNormalization(3));
    const { pixels, bytes } = await pipelineImage(32);
    expect(pixels.dataSync()[3]).toBe(Math.fround((bytes[1] / 255 - PIXEL_MEAN) / PIXEL_STD)); // the pipeline's units
    const want = Float32Array.from(
      { length: bytes.length * 3 },
      (_, i) => (bytes[Math.floor(i / 3)] / 255 - 0.5) / 0.5,
    );
    const tower = m.network.towerPixels(pixels);
    expect(Array.from(tower.dataSync())).toEqual(Array.from(want));
    // and the forward pass uses them: the same embeddings as a pipeline-normalised twin given the converted pixels
    const twin = await buildModel(spec(await checkpoint("tiny-llava", "twin")));
    expect(twin.imageNormalization).toEqual(pipelineNormalization(3));
    const expected = tf.tensor4d(want, [1, 32, 32, 3]);
    const a = m.network.imageEmbeds(pixels, { training: false });
    const b = twin.network.imageEmbeds(expected, { training: false });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([pixels, tower, expected, a, b]);
    m.dispose();
    twin.dispose();
  });

  it("anyres resizes and pads in the tower's units: black stays black on every channel", async () => {
    const norm = { image_mean: [0.4, 0.5, 0.6], image_std: [0.5, 0.25, 0.2] };
    const path = await checkpoint("tiny-llava-anyres", "per-channel", norm);
    const m = await buildModel({ ...spec(path), imageSize: 20 });
    const { black } = pixelAffine({ imageMean: norm.image_mean, imageStd: norm.image_std });
    expect(black.map((v) => Math.fround(v))).toEqual([-0.8, -2, -3].map((v) => Math.fround(v)));
    const [H, W] = [12, 30];
    expect(anyresLayout(m.config, H, W).pad.some((p) => p > 0)).toBe(true);
    // a black film as the pipeline gives it
    const pixels = tf.fill([1, H, W, 3], (0 - PIXEL_MEAN) / PIXEL_STD) as tf.Tensor4D;
    const tower = m.network.towerPixels(pixels);
    const tiles = m.network.imageTiles(tower); // [1, 1 + tiles, s, s, 3]
    const v = tiles.dataSync();
    let worst = 0;
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i] - black[i % 3]));
    expect(worst).toBeLessThan(1e-5);
    const emb = m.network.imageEmbeds(pixels, { training: false });
    expect(emb.shape).toEqual([1, m.network.numImageTokensFor(H, W), m.config.text_config.hidden_size]);
    tf.dispose([pixels, tower, tiles, emb]);
    m.dispose();
  });

  it("is refused when malformed, naming the file and the field", async () => {
    const path = await checkpoint("tiny-llava", "bad-std", {
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5],
    });
    await expect(buildModel(spec(path))).rejects.toThrow(
      `${join(path, "preprocessor_config.json")}: image_std: expected 3 positive numbers (one per channel, vision_config.num_channels) or one for all, got [0.5,0.5]`,
    );
    const notJson = await checkpoint("tiny-llava", "not-json", "{ image_mean: ");
    await expect(buildModel(spec(notJson))).rejects.toThrow(/preprocessor_config\.json: not valid JSON/);
    const parse = (raw: unknown) => () => parsePreprocessorConfig(raw, 3, "p.json");
    expect(parse({ image_std: [0.5, 0.5, 0.5] })).toThrow(
      /^p\.json: image_mean: expected 3 numbers .*got undefined/,
    );
    expect(parse({ image_mean: "0.5", image_std: 0.5 })).toThrow(/^p\.json: image_mean: .*got "0.5"/);
    expect(parse({ image_mean: 0.5, image_std: [0.5, 0, 0.5] })).toThrow(
      /^p\.json: image_std: expected 3 positive/,
    );
    expect(parse({ ...SIGLIP, rescale_factor: 1 })).toThrow(/^p\.json: rescale_factor: .*1\/255/);
    expect(parse({ ...SIGLIP, do_rescale: false })).toThrow(/^p\.json: do_rescale: /);
    expect(parse([0.5])).toThrow(/^p\.json: expected a JSON object/);
    // what Hugging Face also accepts: one number for all channels; no normalisation at all
    expect(parse({ image_mean: 0.5, image_std: 0.5, rescale_factor: 0.00392156862745098 })()).toEqual(
      siglipNormalization(3),
    );
    expect(parse({ do_normalize: false })()).toEqual({ imageMean: [0, 0, 0], imageStd: [1, 1, 1] });
  });
});

describe("without preprocessor_config.json", () => {
  it("the tiny preset keeps the pipeline's normalisation and passes its pixels through untouched", async () => {
    const m = await buildModel({ ...spec(), preset: "tiny", imageSize: 32, corpus: ["no acute findings ."] });
    expect(m.imageNormalization).toEqual(pipelineNormalization(3));
    expect(pixelAffine(m.imageNormalization)).toMatchObject({
      scale: [1, 1, 1],
      shift: [0, 0, 0],
      identity: true,
    });
    const px = tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    expect(m.network.towerPixels(px)).toBe(px);
    px.dispose();
    m.dispose();
  });

  it("a directory gets its preset's default: SigLIP's 0.5 / 0.5 for a real preset, else the pipeline's", async () => {
    const path = await checkpoint("tiny-llava", "no-preprocessor");
    const real = await buildModel({ ...spec(path), preset: "llava-onevision-qwen2-0.5b" });
    expect(real.imageNormalization).toEqual(siglipNormalization(3));
    const plain = await buildModel(spec(path));
    expect(plain.imageNormalization).toEqual(pipelineNormalization(3));
    real.dispose();
    plain.dispose();
  });
});

describe("saveBase", () => {
  it("writes the normalisation the model uses over the checkpoint's own settings, and it reads back", async () => {
    const path = await checkpoint("tiny-llava", "keep", {
      ...SIGLIP,
      processor_class: "LlavaOnevisionProcessor",
    });
    const m = await buildModel(spec(path));
    const saved = join(dir, "keep-saved");
    await m.saveBase(saved);
    const json = JSON.parse(await readFile(join(saved, "preprocessor_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({ ...SIGLIP, processor_class: "LlavaOnevisionProcessor", do_normalize: true });
    const again = await buildModel(spec(saved));
    expect(again.imageNormalization).toEqual(siglipNormalization(3));
    m.dispose();
    again.dispose();
  });

  it("the tiny preset's saved base says the pipeline's 0.5 / 0.25, so it keeps them when loaded without a preset", async () => {
    const m = await buildModel({ ...spec(), preset: "tiny", imageSize: 32, corpus: ["no acute findings ."] });
    const saved = join(dir, "tiny-saved");
    await m.saveBase(saved);
    const json = JSON.parse(await readFile(join(saved, "preprocessor_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({
      image_processor_type: "LlavaOnevisionImageProcessor",
      image_mean: [PIXEL_MEAN, PIXEL_MEAN, PIXEL_MEAN],
      image_std: [PIXEL_STD, PIXEL_STD, PIXEL_STD],
      rescale_factor: 1 / 255,
      size: { height: 32, width: 32 },
    });
    const again = await buildModel({ ...spec(saved), preset: "llava-onevision-qwen2-0.5b" });
    expect(again.imageNormalization).toEqual(pipelineNormalization(3));
    m.dispose();
    again.dispose();
  });
});

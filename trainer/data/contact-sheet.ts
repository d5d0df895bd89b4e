// A labelled grid of synthetic radiographs, one finding per tile, to check by eye that each finding
// is drawn visibly (at full size and after the downscale the local demo uses).
import sharp, { type OverlayOptions } from "sharp";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import { singleFinding } from "./synth/findings-state.js";
import { drawRadiograph } from "./synth/draw-radiograph.js";
import { mulberry32 } from "../../common/random.js";

export interface ContactSheetOptions {
  out: string;
  seed?: number;
  /** Tile side in pixels; default 192. */
  tile?: number;
  /** Side the tiles are also shown at (downscaled, then scaled back up); default 64. */
  smallSize?: number;
}

const escapeXml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Rows: easy, easy at smallSize, hard. Columns: the 14 observations (No Finding = a normal film). */
export async function writeContactSheet(opts: ContactSheetOptions): Promise<void> {
  const tile = opts.tile ?? 192;
  const small = opts.smallSize ?? 64;
  const labelH = 22;
  const cols = 7;
  const rowsPerBand = Math.ceil(CHEXPERT_LABELS.length / cols);
  const bands: Array<{ name: string; difficulty: "easy" | "hard"; small: boolean }> = [
    { name: "easy", difficulty: "easy", small: false },
    { name: `easy, seen at ${small}x${small}`, difficulty: "easy", small: true },
    { name: "hard", difficulty: "hard", small: false },
  ];
  const bandTitle = 30;
  const cellH = tile + labelH;
  const width = cols * tile;
  const height = bands.length * (bandTitle + rowsPerBand * cellH);
  const composites: OverlayOptions[] = [];
  let svg = "";
  for (let b = 0; b < bands.length; b++) {
    const band = bands[b];
    const y0 = b * (bandTitle + rowsPerBand * cellH);
    svg += `<text x="8" y="${y0 + 21}" font-family="sans-serif" font-size="18" font-weight="bold" fill="#ffd24a">${escapeXml(band.name)}</text>`;
    for (let i = 0; i < CHEXPERT_LABELS.length; i++) {
      const label = CHEXPERT_LABELS[i];
      const rand = mulberry32((opts.seed ?? 1) * 1000 + i);
      const f = singleFinding(label, rand);
      const px = drawRadiograph(f, rand, { size: 256, difficulty: band.difficulty });
      let img = sharp(px, { raw: { width: 256, height: 256, channels: 1 } }).blur(0.8);
      if (band.small) {
        const { data, info } = await img.resize(small, small).raw().toBuffer({ resolveWithObject: true });
        img = sharp(data, { raw: { width: small, height: small, channels: info.channels } }).resize(
          tile,
          tile,
          {
            kernel: "nearest",
          },
        );
      } else img = img.resize(tile, tile);
      const x = (i % cols) * tile;
      const y = y0 + bandTitle + Math.floor(i / cols) * cellH;
      composites.push({ input: await img.png().toBuffer(), left: x, top: y + labelH });
      const sided = ![
        "No Finding",
        "Support Devices",
        "Cardiomegaly",
        "Enlarged Cardiomediastinum",
        "Edema",
      ].includes(label);
      const side = sided ? ` (${f.side[label]})` : "";
      svg += `<text x="${x + 6}" y="${y + 16}" font-family="sans-serif" font-size="13" fill="white">${escapeXml(label + side)}</text>`;
    }
  }
  composites.push({
    input: Buffer.from(
      `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${svg}</svg>`,
    ),
    left: 0,
    top: 0,
  });
  await sharp({ create: { width, height, channels: 3, background: { r: 24, g: 24, b: 32 } } })
    .composite(composites)
    .png()
    .toFile(opts.out);
}

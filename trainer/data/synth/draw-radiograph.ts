// Procedural frontal chest radiograph. Works in a density map (0 air .. 1 metal) over normalised
// coordinates (u across, v down, both 0..1); the image's right side is the patient's left, as a PA
// film is displayed. Findings are drawn from the same StudyFindings the report is written from.
// At "easy" every finding is big and contrasty enough to survive a 32x32 downscale; "hard" makes
// them smaller and fainter and adds more noise and positioning variation.
import { mulberry32 } from "../../../common/random.js";
import { deviceShapes } from "./device-shapes.js";
import type { StudyFindings } from "./findings-state.js";
import { poly, polyDist, segDist, smooth, valueNoise, type Poly } from "./raster-shapes.js";

export interface DrawOptions {
  size: number;
  difficulty: "easy" | "hard";
}

interface Lung {
  cx: number; // ellipse centre
  cy: number;
  rx: number;
  ry: number;
  base: number; // diaphragm height at the lung's centre
  lateral: 1 | -1; // +1 when lateral is towards larger u
}

/** Returns [size*size] greyscale bytes. */
export function drawRadiograph(f: StudyFindings, rand: () => number, opts: DrawOptions): Uint8Array {
  const S = opts.size;
  const easy = opts.difficulty === "easy";
  // Two independent streams: the patient and exposure (rA), and the findings' geometry (rF), so one
  // seed gives the same patient with or without a finding (contact sheets and tests compare them).
  const rA = mulberry32(Math.floor(rand() * 4294967296));
  const rF = mulberry32(Math.floor(rand() * 4294967296));
  const jitter = (a: number): number => (rA() * 2 - 1) * a * (easy ? 1 : 1.6);
  const fjitter = (a: number): number => (rF() * 2 - 1) * a;
  const amp = (label: keyof StudyFindings["state"]): number =>
    (easy ? 1 : 0.5) * (f.state[label] === "unc" ? 0.7 : 1);
  const has = (label: keyof StudyFindings["state"]): boolean =>
    f.state[label] === "pos" || f.state[label] === "unc";
  const scale = easy ? 1 : 0.6;

  // Positioning: shift, scale, rotation.
  const cx = 0.5 + jitter(0.025);
  const cy = jitter(0.02);
  const sc = 1 + jitter(0.04);
  const rot = jitter(0.04);
  const cosR = Math.cos(rot);
  const sinR = Math.sin(rot);

  const lungs: Lung[] = [
    { cx: cx - 0.17 * sc, cy: 0.43 + cy, rx: 0.135 * sc, ry: 0.29, base: 0.69 + cy, lateral: -1 },
    { cx: cx + 0.17 * sc, cy: 0.44 + cy, rx: 0.13 * sc, ry: 0.29, base: 0.71 + cy, lateral: 1 },
  ];
  const thoraxW = 0.6 * sc;
  const sideLung = (side: string): Lung[] =>
    side === "bilateral" ? lungs : side === "right" ? [lungs[0]] : [lungs[1]]; // patient's right = image left

  // Heart and mediastinum.
  // Cardiothoracic ratio: normal below 0.5; cardiomegaly above it (well above at easy).
  const ctrDraw = rA();
  const ctr = has("Cardiomegaly")
    ? easy
      ? 0.62 + 0.06 * ctrDraw
      : 0.53 + 0.03 * ctrDraw
    : 0.4 + 0.06 * ctrDraw;
  const heart = { cx: cx + 0.04 * sc, cy: 0.62 + cy, rx: (ctr * thoraxW) / 2, ry: 0.13 };
  const normalMediaW = 0.05 + 0.008 * rA();
  const mediaW = has("Enlarged Cardiomediastinum") ? (easy ? 0.12 : 0.085) : normalMediaW;

  const noise = valueNoise(rA, 14);
  const fine = valueNoise(rA, 40);
  const diaphragm = (lung: Lung, u: number): number => {
    const s = (u - lung.cx) / lung.rx;
    return lung.base + 0.05 * s * s; // dome: highest in the middle, lowest at the costophrenic angle
  };
  const inLung = (lung: Lung, u: number, v: number): boolean => {
    const a = (u - lung.cx) / lung.rx;
    const b = (v - lung.cy) / lung.ry;
    return a * a + b * b < 1 && v < diaphragm(lung, u);
  };

  // Finding geometry, fixed before the pixel loop.
  const effusion = has("Pleural Effusion")
    ? {
        lungs: sideLung(f.side["Pleural Effusion"]),
        h: { small: 0.12, moderate: 0.2, large: 0.3 }[f.size["Pleural Effusion"]] * scale + 0.02,
      }
    : null;
  const ptx = has("Pneumothorax")
    ? {
        lung: sideLung(f.side.Pneumothorax === "bilateral" ? "left" : f.side.Pneumothorax)[0],
        shrink: easy ? { small: 0.7, moderate: 0.58, large: 0.48 }[f.size.Pneumothorax] : 0.85,
      }
    : null;
  const consolidation = has("Consolidation")
    ? {
        lung: sideLung(f.side.Consolidation === "bilateral" ? "left" : f.side.Consolidation)[0],
        lower: f.zone.Consolidation > 0.5,
      }
    : null;
  const blobs: Array<{ x: number; y: number; r: number; a: number; soft: boolean }> = [];
  const placeIn = (lung: Lung, zone: number): [number, number] => [
    lung.cx + lung.lateral * (0.1 + 0.4 * rF()) * lung.rx,
    lung.cy - lung.ry * 0.7 + zone * lung.ry * 1.3,
  ];
  if (has("Pneumonia")) {
    const lung = sideLung(f.side.Pneumonia === "bilateral" ? "left" : f.side.Pneumonia)[0];
    const n = easy ? 7 : 4;
    for (let i = 0; i < n; i++) {
      const [x, y] = placeIn(lung, 0.45 + 0.45 * rF());
      blobs.push({
        x: x + fjitter(0.03),
        y,
        r: (0.035 + 0.02 * rF()) * scale,
        a: 0.4 * amp("Pneumonia"),
        soft: true,
      });
    }
  }
  if (has("Lung Lesion")) {
    const lung = sideLung(f.side["Lung Lesion"] === "bilateral" ? "left" : f.side["Lung Lesion"])[0];
    const [x, y] = placeIn(lung, f.zone["Lung Lesion"]);
    blobs.push({
      x,
      y,
      r: easy ? 0.05 + 0.03 * rF() : 0.022 + 0.01 * rF(),
      a: 0.5 * amp("Lung Lesion"),
      soft: false,
    });
  }
  if (has("Lung Opacity")) {
    const lung = sideLung(f.side["Lung Opacity"] === "bilateral" ? "left" : f.side["Lung Opacity"])[0];
    const [x, y] = placeIn(lung, f.zone["Lung Opacity"]);
    blobs.push({ x, y, r: (0.09 + 0.03 * rF()) * scale, a: 0.38 * amp("Lung Opacity"), soft: true });
  }
  const atel = has("Atelectasis")
    ? sideLung(f.side.Atelectasis).map((lung) => {
        const y = lung.base - 0.06 - 0.03 * rF();
        const tilt = fjitter(0.05) * (easy ? 1 : 1.6);
        return {
          a: [lung.cx - lung.rx * 0.75, y - tilt] as [number, number],
          b: [lung.cx + lung.rx * 0.75, y + tilt] as [number, number],
        };
      })
    : [];
  const atelW = easy ? 0.022 : 0.01;
  const pleuralOther = has("Pleural Other") ? sideLung(f.side["Pleural Other"]) : [];
  const edema = has("Edema");

  // Ribs: posterior arcs from the spine outwards and down, all of one shape shifted by RIB_GAP, so
  // the nearest rib to a pixel is found in O(1). A fracture breaks one (hard) or two (easy) ribs on one side.
  const RIB_GAP = 0.058;
  const ribTop = 0.16 + cy;
  const ribSpan = 0.31 * sc;
  const ribShape = (t: number): number => ribTop - 0.045 * Math.sin(Math.PI * t * 0.9) + 0.06 * t * t;
  const fractureSgn = f.side.Fracture === "right" ? -1 : 1;
  const fractureRib = 3 + Math.floor(rF() * 3);
  const brokenRibs = has("Fracture") ? (easy ? [fractureRib, fractureRib + 1] : [fractureRib]) : [];
  const gapT = 0.6;
  const calluses = brokenRibs.map((k) => ({
    x: cx + fractureSgn * (0.02 + gapT * ribSpan),
    y: ribShape(gapT) + k * RIB_GAP,
    r: easy ? 0.038 : 0.014,
  }));
  const ribW = 0.011;
  const clavicles: Poly[] = [-1, 1].map((s) =>
    poly(
      [
        [cx + s * 0.03, 0.17 + cy],
        [cx + s * 0.18, 0.12 + cy],
        [cx + s * 0.32, 0.1 + cy],
      ],
      0.02,
    ),
  );

  const devices = deviceShapes(f.devices, cx, cy);
  const exposure = 0.9 + jitter(0.12);
  const gamma = 1 + jitter(0.15);
  const noiseSd = easy ? 0.02 : 0.045;
  // Film response (gamma) as a table, and a table of quantum noise read from a random offset.
  const film = new Float32Array(1024);
  for (let i = 0; i < 1024; i++) film[i] = Math.pow(i / 1023, gamma);
  const grain = new Float32Array(4096);
  for (let i = 0; i < 4096; i++) grain[i] = noiseSd * (rA() + rA() + rA() - 1.5) * 2;
  const grainAt = Math.floor(rA() * 4096);
  const out = new Uint8Array(S * S);
  for (let py = 0; py < S; py++) {
    for (let px = 0; px < S; px++) {
      // Rotate sample coordinates about the centre (patient tilt).
      const x0 = (px + 0.5) / S - 0.5;
      const y0 = (py + 0.5) / S - 0.5;
      const u = 0.5 + x0 * cosR - y0 * sinR;
      const v = 0.5 + x0 * sinR + y0 * cosR;

      // Body and abdomen.
      const bx = (u - cx) / (0.45 * sc);
      const by = (v - 0.6 - cy) / 0.62;
      const inBody = bx * bx + by * by < 1 && v > 0.05 + cy;
      let d = inBody ? 0.42 + 0.06 * (1 - bx * bx) : 0.04;
      if (inBody && v > Math.min(diaphragm(lungs[0], u), diaphragm(lungs[1], u))) d = 0.55;

      // Lungs with markings (denser towards the hila), and what fills them.
      let lungHit: Lung | null = null;
      for (const lung of lungs) if (inLung(lung, u, v)) lungHit = lung;
      if (lungHit) {
        const hil = Math.sqrt(
          (u - (lungHit.cx - lungHit.lateral * lungHit.rx * 0.5)) ** 2 + (v - lungHit.cy) ** 2,
        );
        d = 0.12 + 0.08 * noise(u, v) * Math.max(0, 1 - hil / 0.2) + 0.05 * fine(u, v);
        let ptxHere = false;
        if (ptx && ptx.lung === lungHit) {
          // Collapsed lung: an ellipse shrunk towards the hilum; beyond it air with no markings.
          const l = ptx.lung;
          const ccx = l.cx - l.lateral * l.rx * (1 - ptx.shrink) * 0.8;
          const ccy = l.cy + l.ry * (1 - ptx.shrink) * 0.5;
          const a = (u - ccx) / (l.rx * ptx.shrink);
          const b = (v - ccy) / (l.ry * ptx.shrink);
          const r = Math.sqrt(a * a + b * b);
          if (r > 1) {
            ptxHere = true;
            d = 0.02;
          } else if (r > 1 - (easy ? 0.07 : 0.04))
            d += 0.3 * amp("Pneumothorax"); // the visceral pleural line
          else d += (easy ? 0.2 : 0.05) * amp("Pneumothorax"); // the collapsed lung is denser
        }
        if (!ptxHere) {
          if (edema) {
            for (const l of lungs) {
              const hx = l.cx - l.lateral * l.rx * 0.45;
              const g = Math.exp(-((u - hx) ** 2 + (v - l.cy - 0.03) ** 2) / (2 * 0.07 * 0.07));
              d += 0.3 * amp("Edema") * g;
            }
            // Septal (Kerley B) lines near the lateral bases.
            const lat = (lungHit.lateral * (u - lungHit.cx)) / lungHit.rx;
            if (lat > 0.6 && v > lungHit.cy + 0.05 && Math.abs(((v * S * 0.9) % 6) - 3) < 0.8)
              d += 0.15 * amp("Edema");
          }
          if (consolidation && consolidation.lung === lungHit) {
            const l = lungHit;
            const edge = consolidation.lower ? v - (l.cy + 0.02) : l.cy - 0.06 - v;
            const fuzz = 0.02 * (noise(u * 3, v * 3) - 0.5);
            d += 0.45 * amp("Consolidation") * smooth(-0.01, 0.02, edge + fuzz);
          }
          for (const bl of blobs) {
            const r = Math.sqrt((u - bl.x) ** 2 + (v - bl.y) ** 2) / bl.r;
            d += bl.soft ? bl.a * Math.exp(-r * r * 1.5) : bl.a * (1 - smooth(0.85, 1.05, r));
          }
          for (const s of atel)
            if (segDist(u, v, s.a[0], s.a[1], s.b[0], s.b[1]) < atelW) d += 0.45 * amp("Atelectasis");
          for (const l of pleuralOther) {
            if (l !== lungHit) continue;
            const a = (u - l.cx) / l.rx;
            const b = (v - l.cy) / l.ry;
            const r = Math.sqrt(a * a + b * b);
            if (r > 1 - (easy ? 0.3 : 0.12) && l.lateral * (u - l.cx) > -0.3 * l.rx && v < l.cy + 0.1)
              d += 0.45 * amp("Pleural Other");
          }
        }
        if (effusion && effusion.lungs.includes(lungHit)) {
          // Fluid from the base up to a meniscus that climbs the lateral wall.
          const l = lungHit;
          const lat = Math.max(0, (l.lateral * (u - l.cx)) / l.rx);
          const level = l.base - effusion.h - 0.6 * effusion.h * lat * lat;
          if (v > level)
            d = Math.max(d, 0.12 + 0.45 * amp("Pleural Effusion") * smooth(level, level + 0.015, v));
        }
      }

      // Mediastinum, spine and heart lie in front of (over) the medial lungs.
      const mw = v < 0.47 + cy ? mediaW : 0.05;
      if (v > 0.08 + cy && v < 0.7 + cy && Math.abs(u - cx) < mw) d = Math.max(d, 0.6);
      if (Math.abs(u - cx) < 0.025 && inBody) d = Math.max(d, 0.66);
      const hx = (u - heart.cx) / heart.rx;
      const hy = (v - heart.cy) / heart.ry;
      if (hx * hx + hy * hy < 1) d = Math.max(d, 0.62);

      // Bones over everything in the thorax.
      if (inBody) {
        const sgn = u < cx ? -1 : 1;
        const t = (sgn * (u - cx) - 0.02) / ribSpan;
        if (t >= 0 && t <= 1) {
          const rel = v - ribShape(t);
          const k = Math.round(rel / RIB_GAP);
          const broken =
            sgn === fractureSgn && brokenRibs.includes(k) && Math.abs(t - gapT) < (easy ? 0.05 : 0.025);
          if (k >= 0 && k < 9 && Math.abs(rel - k * RIB_GAP) < ribW && !broken) d += 0.12;
        }
        for (const c of calluses)
          if (Math.sqrt((u - c.x) ** 2 + (v - c.y) ** 2) < c.r) d += 0.4 * amp("Fracture");
        for (const c of clavicles) if (polyDist(u, v, c) < 0.014) d += 0.22;
      }
      for (const ln of devices.lines) if (polyDist(u, v, ln.line) < ln.w) d = 0.95;
      for (const b of devices.boxes) if (u > b.x0 && u < b.x1 && v > b.y0 && v < b.y1) d = 1;

      // Exposure, film response and quantum noise.
      const g = film[Math.round(Math.min(1, Math.max(0, d * exposure)) * 1023)];
      const n = grain[(grainAt + py * 131 + px) & 4095];
      out[py * S + px] = Math.max(0, Math.min(255, Math.round((g + n) * 255)));
    }
  }
  return out;
}

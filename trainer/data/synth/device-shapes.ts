// Where support devices lie on the synthetic film: tubes and lines as polylines with a width,
// the pacemaker generator as a box. Placed relative to the patient's midline (cx) and vertical
// shift (cy), so they move with the patient; no randomness of their own.
import type { Device } from "./findings-state.js";
import { poly, type Poly } from "./raster-shapes.js";

export interface DeviceShapes {
  /** Radio-opaque lines: a pixel within `w` of `line` is drawn as metal. */
  lines: Array<{ line: Poly; w: number }>;
  boxes: Array<{ x0: number; y0: number; x1: number; y1: number }>;
}

export function deviceShapes(devices: readonly Device[], cx: number, cy: number): DeviceShapes {
  const lines: Array<{ pts: Array<[number, number]>; w: number }> = [];
  const boxesPad = 0.02;
  const boxes: Array<{ x0: number; y0: number; x1: number; y1: number }> = [];
  for (const d of devices) {
    if (d === "ett")
      lines.push({
        pts: [
          [cx, 0.0],
          [cx + 0.005, 0.3 + cy],
        ],
        w: 0.009,
      });
    if (d === "ngt")
      lines.push({
        pts: [
          [cx - 0.01, 0.0],
          [cx - 0.005, 0.5],
          [cx + 0.05, 0.8 + cy],
          [cx + 0.12, 0.84 + cy],
        ],
        w: 0.006,
      });
    if (d === "cvc")
      lines.push({
        pts: [
          [cx - 0.3, 0.12 + cy],
          [cx - 0.12, 0.2 + cy],
          [cx - 0.03, 0.27 + cy],
          [cx - 0.025, 0.4 + cy],
        ],
        w: 0.006,
      });
    if (d === "pacemaker") {
      boxes.push({ x0: cx + 0.2, y0: 0.15 + cy, x1: cx + 0.29, y1: 0.21 + cy });
      lines.push({
        pts: [
          [cx + 0.22, 0.19 + cy],
          [cx + 0.08, 0.26 + cy],
          [cx - 0.01, 0.45 + cy],
          [cx + 0.03, 0.64 + cy],
        ],
        w: 0.006,
      });
    }
  }

  return { lines: lines.map((l) => ({ line: poly(l.pts, boxesPad), w: l.w })), boxes };
}

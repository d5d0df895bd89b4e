// Small 2-D raster primitives for the synthetic radiograph, over normalised coordinates: a smooth
// step, bilinear value noise, and distances to segments and polylines (tubes, ribs, clavicles).
// They know nothing about anatomy.

/** Hermite smooth step from 0 at e0 to 1 at e1 (soft edges of fluid and opacities). */
export const smooth = (e0: number, e1: number, x: number): number => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

/** Value noise on a coarse lattice, bilinear: cheap lung-marking texture. */
export function valueNoise(rand: () => number, cells: number): (u: number, v: number) => number {
  const g = new Float32Array((cells + 1) * (cells + 1));
  for (let i = 0; i < g.length; i++) g[i] = rand();
  return (u, v) => {
    const x = Math.min(cells - 1e-6, Math.max(0, u * cells));
    const y = Math.min(cells - 1e-6, Math.max(0, v * cells));
    const i = Math.floor(x);
    const j = Math.floor(y);
    const fx = x - i;
    const fy = y - j;
    const a = g[j * (cells + 1) + i];
    const b = g[j * (cells + 1) + i + 1];
    const c = g[(j + 1) * (cells + 1) + i];
    const d = g[(j + 1) * (cells + 1) + i + 1];
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
  };
}

/** Distance from point to segment, for tubes, lines and rib segments. */
export function segDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy || 1)));
  return Math.sqrt((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2);
}

export interface Poly {
  pts: Array<[number, number]>;
  box: [number, number, number, number]; // minX, minY, maxX, maxY
}

export function poly(pts: Array<[number, number]>, pad: number): Poly {
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return {
    pts,
    box: [Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) + pad, Math.max(...ys) + pad],
  };
}

/** Distance to a polyline; Infinity outside its padded bounding box (the common, cheap case). */
export function polyDist(px: number, py: number, p: Poly): number {
  if (px < p.box[0] || py < p.box[1] || px > p.box[2] || py > p.box[3]) return Infinity;
  const pts = p.pts;
  let d = Infinity;
  for (let i = 1; i < pts.length; i++)
    d = Math.min(d, segDist(px, py, pts[i - 1][0], pts[i - 1][1], pts[i][0], pts[i][1]));
  return d;
}

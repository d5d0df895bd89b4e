// The synthetic radiograph's 2-D primitives (raster-shapes.ts): the edges, texture and distances
// the film's anatomy, findings and devices are drawn with.
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../common/random.js";
import { poly, polyDist, segDist, smooth, valueNoise } from "../../trainer/data/synth/raster-shapes.js";

describe("smooth", () => {
  it("is 0 before the edge, 1 after it, a half at its middle, and rises monotonically", () => {
    expect(smooth(0.2, 0.4, 0.1)).toBe(0);
    expect(smooth(0.2, 0.4, 0.5)).toBe(1);
    expect(smooth(0.2, 0.4, 0.3)).toBeCloseTo(0.5, 12);
    const xs = Array.from({ length: 21 }, (_, i) => 0.2 + i * 0.01).map((x) => smooth(0.2, 0.4, x));
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThanOrEqual(xs[i - 1]);
  });
});

describe("valueNoise", () => {
  it("is the lattice value at lattice points, between its neighbours in a cell, and clamped outside 0..1", () => {
    const draws: number[] = [];
    const rand = mulberry32(3);
    const noise = valueNoise(() => {
      const r = rand();
      draws.push(r);
      return r;
    }, 4);
    // (cells + 1)^2 lattice values, drawn row by row.
    expect(draws).toHaveLength(25);
    expect(noise(0, 0)).toBeCloseTo(draws[0], 6);
    expect(noise(0.25, 0.5)).toBeCloseTo(draws[2 * 5 + 1], 6);
    const mid = noise(0.125, 0);
    expect(mid).toBeCloseTo((draws[0] + draws[1]) / 2, 6);
    expect(noise(-1, -1)).toBe(noise(0, 0));
    expect(noise(2, 0.5)).toBeCloseTo(noise(1, 0.5), 5);
  });

  it("gives the same field for the same seed", () => {
    const a = valueNoise(mulberry32(9), 14);
    const b = valueNoise(mulberry32(9), 14);
    for (const [u, v] of [
      [0.1, 0.7],
      [0.52, 0.33],
    ])
      expect(a(u, v)).toBe(b(u, v));
  });
});

describe("distances", () => {
  it("segDist: perpendicular inside the segment, to the nearer end beyond it; a point segment is a point", () => {
    expect(segDist(0.5, 0.3, 0, 0, 1, 0)).toBeCloseTo(0.3, 12);
    expect(segDist(1.3, 0.4, 0, 0, 1, 0)).toBeCloseTo(0.5, 12);
    expect(segDist(3, 4, 0, 0, 0, 0)).toBeCloseTo(5, 12);
  });

  it("polyDist: the nearest segment inside the padded box, Infinity outside it", () => {
    const p = poly(
      [
        [0, 0],
        [1, 0],
        [1, 1],
      ],
      0.1,
    );
    expect(p.box).toEqual([-0.1, -0.1, 1.1, 1.1]);
    expect(polyDist(0.5, 0.05, p)).toBeCloseTo(0.05, 12);
    expect(polyDist(0.95, 0.5, p)).toBeCloseTo(0.05, 12);
    expect(polyDist(0.5, 0.5, p)).toBeCloseTo(0.5, 12);
    expect(polyDist(1.2, 0.5, p)).toBe(Infinity);
  });
});

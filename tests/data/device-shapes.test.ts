// Where support devices lie on the synthetic film (device-shapes.ts): one radio-opaque line per
// tube or catheter, a generator box for a pacemaker, all moving with the patient.
import { describe, expect, it } from "vitest";
import { deviceShapes } from "../../trainer/data/synth/device-shapes.js";
import { polyDist } from "../../trainer/data/synth/raster-shapes.js";

describe("deviceShapes", () => {
  it("no devices, nothing drawn", () => {
    expect(deviceShapes([], 0.5, 0)).toEqual({ lines: [], boxes: [] });
  });

  it("one line per tube or catheter, and a lead plus a generator box for a pacemaker", () => {
    const s = deviceShapes(["ett", "cvc", "pacemaker", "ngt"], 0.5, 0);
    expect(s.lines).toHaveLength(4);
    expect(s.boxes).toEqual([{ x0: 0.7, y0: 0.15, x1: 0.79, y1: 0.21 }]);
    // The endotracheal tube runs down the midline from the top of the film.
    const ett = deviceShapes(["ett"], 0.5, 0).lines[0];
    expect(polyDist(0.5, 0.01, ett.line)).toBeLessThan(ett.w);
    expect(polyDist(0.5, 0.6, ett.line)).toBeGreaterThan(ett.w);
  });

  it("moves with the patient's midline and vertical shift", () => {
    const at = deviceShapes(["pacemaker"], 0.5, 0);
    const moved = deviceShapes(["pacemaker"], 0.53, 0.02);
    expect(moved.boxes[0].x0).toBeCloseTo(at.boxes[0].x0 + 0.03, 12);
    expect(moved.boxes[0].y1).toBeCloseTo(at.boxes[0].y1 + 0.02, 12);
    expect(moved.lines[0].line.pts.map(([x, y]) => [x - 0.03, y - 0.02])).toEqual(
      at.lines[0].line.pts.map(([x, y]) => [expect.closeTo(x, 12), expect.closeTo(y, 12)]),
    );
  });
});

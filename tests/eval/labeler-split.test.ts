// The labeler's development / set-aside split of the IU X-ray validation studies, and the benchmark's
// per-part figures and error listing built on it.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { benchmarkLabeler, loadIuValidation, splitLabelerStudies } from "../../trainer/eval/index.js";

const dir = fileURLToPath(new URL("../fixtures/iu-xray/", import.meta.url));

describe("labeler split", () => {
  it("sets aside exactly a third, the same studies whatever the order of the input", () => {
    const keys = Array.from({ length: 300 }, (_, i) => `CXR${i + 1}`);
    const a = splitLabelerStudies(keys);
    const b = splitLabelerStudies([...keys].reverse());
    expect([...a.values()].filter((p) => p === "set-aside")).toHaveLength(100);
    for (const k of keys) expect(b.get(k)).toBe(a.get(k));
  });

  it("puts 99 of the 296 validation studies aside, and every image of a study on one side", async () => {
    const studies = await loadIuValidation(dir);
    expect(studies.filter((s) => s.part === "set-aside")).toHaveLength(99);
    const byKey = new Map<string, string>();
    for (const s of studies) {
      const key = s.id.split("_")[0];
      expect(byKey.get(key) ?? s.part).toBe(s.part);
      byKey.set(key, s.part);
    }
  });
});

describe("labeler benchmark parts and errors", () => {
  it("scores the two parts separately, counts adding up to all, and lists each error with its cue", async () => {
    const b = await benchmarkLabeler(dir, "positive", { bootstrap: 200 });
    const dev = b.parts.development;
    const aside = b.parts["set-aside"];
    expect(dev.studies + aside.studies).toBe(296);
    b.perLabel.forEach((r, k) => {
      expect(dev.perLabel[k].tp + aside.perLabel[k].tp).toBe(r.tp);
      expect(dev.perLabel[k].fp + aside.perLabel[k].fp).toBe(r.fp);
      expect(dev.perLabel[k].fn + aside.perLabel[k].fn).toBe(r.fn);
    });
    expect(b.micro.f1Ci95[0]).toBeLessThanOrEqual(b.micro.f1);
    expect(b.micro.f1Ci95[1]).toBeGreaterThanOrEqual(b.micro.f1);
    const fp = b.perLabel.reduce((a, r) => a + r.fp, 0);
    const fn = b.perLabel.reduce((a, r) => a + r.fn, 0);
    const mapped = b.errors.filter((e) => e.label !== "Lung Opacity");
    expect(mapped).toHaveLength(fp + fn);
    for (const e of mapped) {
      expect(e.predicted).not.toBe(e.gold);
      expect(e.cue.length).toBeGreaterThan(0);
    }
    // A false positive names the mention and the rule that made it positive.
    const fpFinding = mapped.find((e) => e.predicted && e.label !== "No Finding");
    expect(fpFinding?.cue).toMatch(/"[^"]+" (positive|uncertain) \(/);
  });
});

import { describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, type LabelVector } from "../../common/chexpert.js";
import { auroc, bootstrapMean, clinicalMetrics } from "../../trainer/eval/index.js";

describe("AUROC", () => {
  it("matches the textbook example and counts ties as half", () => {
    // scikit-learn's roc_auc_score documentation example: 0.75
    expect(auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(0.75, 12);
    expect(auroc([0.5, 0.5], [false, true])).toBe(0.5);
    expect(auroc([0.1, 0.2], [true, true])).toBeNull();
  });
});

describe("bootstrap", () => {
  it("is deterministic for a seed and brackets the mean", () => {
    const xs = Array.from({ length: 200 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const a = bootstrapMean(xs, 500, 3);
    expect(a).toEqual(bootstrapMean(xs, 500, 3));
    expect(a.value).toBe(0.25);
    expect(a.ci95[0]).toBeLessThan(0.25);
    expect(a.ci95[1]).toBeGreaterThan(0.25);
    // Binomial standard error sqrt(.25*.75/200) ≈ 0.031: the interval is about ±0.06.
    expect(a.ci95[1] - a.ci95[0]).toBeGreaterThan(0.08);
    expect(a.ci95[1] - a.ci95[0]).toBeLessThan(0.16);
  });
});

describe("clinical metrics", () => {
  const vec = (pos: Record<string, 1 | -1 | 0>): LabelVector => CHEXPERT_LABELS.map((l) => pos[l] ?? null);
  it("counts uncertain labels by the chosen policy and pools micro and macro", () => {
    const pred = [vec({ Cardiomegaly: 1, Edema: -1 }), vec({ Atelectasis: 1 })];
    const ref = [vec({ Cardiomegaly: 1, Edema: 1 }), vec({ "Pleural Effusion": 1 })];
    const pos = clinicalMetrics(pred, ref, "positive");
    expect(pos.micro5).toMatchObject({ precision: 2 / 3, recall: 2 / 3 });
    const neg = clinicalMetrics(pred, ref, "negative");
    expect(neg.micro5.precision).toBeCloseTo(0.5, 12);
    expect(neg.micro5.recall).toBeCloseTo(1 / 3, 12);
    expect(neg.perLabel.Edema).toMatchObject({ tp: 0, fn: 1, fp: 0 });
    // macro over the 5: Cardiomegaly F1 1, the other four 0
    expect(neg.macro5.f1).toBeCloseTo(0.2, 12);
    expect(neg.uncertainPolicy).toBe("negative");
  });
});

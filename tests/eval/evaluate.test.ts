// evaluate() on a synthetic data set: reports against themselves score perfectly; shuffled pairs score
// what chance predicts from the label marginals.
import { describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, type LabelVector } from "../../common/chexpert.js";
import { evaluate, headline, isPositive, labelReport, type EvalRecord } from "../../trainer/eval/index.js";
import { mulberry32 } from "../../common/random.js";
import { syntheticReports } from "./synthetic-reports.js";

const reports = syntheticReports(300, 7);

describe("evaluate on a synthetic data set", () => {
  it("gives perfect scores for reports against themselves", () => {
    const records: EvalRecord[] = reports.map((r) => ({ id: r.id, generated: r.text, reference: r.text }));
    const rep = evaluate(records, { uncertain: "positive", bootstrap: 200, seed: 1 });
    const h = headline(rep);
    for (const k of [
      "rougeL_rouge_score_f",
      "rougeL_rouge_score_stemmed_f",
      "rougeLsum_rouge_score_f",
      "rougeLsum_rouge_score_stemmed_f",
      "rougeL_coco_f",
    ]) {
      expect(h[k], k).toBeCloseTo(1, 12);
    }
    for (const k of ["bleu1_coco", "bleu2_coco", "bleu3_coco", "bleu4_coco"])
      expect(h[k], k).toBeCloseTo(1, 9);
    expect(h.clinical_f1_micro_14).toBe(1);
    expect(h.clinical_f1_micro_5).toBe(1);
    expect(h.fully_accurate_rate).toBe(1);
    expect(h.hallucination_rate).toBe(0);
    expect(h.omission_rate).toBe(0);
    expect(h.wrong_laterality_rate).toBe(0);
    // Reports against themselves repeat exactly as often as the references do.
    expect(rep.diversity.repeating).toBe(rep.diversity.referenceRepeating);
    expect(h.distinct_report_rate).toBe(
      new Set(reports.map((r) => r.text.toLowerCase())).size / reports.length,
    );
    expect(rep.audit.fullyAccurate.ci95).toEqual([1, 1]);
    expect(rep.audit.worst).toEqual([]);
    // The synthetic reports do exercise the labels.
    expect(rep.clinical.perLabel["Pleural Effusion"].support).toBeGreaterThan(50);
  });

  it("gives chance-level clinical scores and audit rates for shuffled pairs", () => {
    const rand = mulberry32(11);
    const perm = reports.map((_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const records: EvalRecord[] = reports.map((r, i) => ({
      id: r.id,
      generated: reports[perm[i]].text,
      reference: r.text,
    }));
    const rep = evaluate(records, { uncertain: "positive", bootstrap: 200, seed: 1 });

    // Under independence, E[TP_l] = P_l² / N for a label with P_l positives among N reports.
    const labels: LabelVector[] = reports.map((r) => labelReport(r.text));
    const n = labels.length;
    let expTp = 0;
    let pos = 0;
    CHEXPERT_LABELS.forEach((_, li) => {
      const p = labels.filter((v) => isPositive(v[li], "positive")).length;
      expTp += (p * p) / n;
      pos += p;
    });
    const expectedMicro = expTp / pos; // precision = recall = F1 in expectation: the marginals are the same
    expect(Math.abs(rep.clinical.micro14.f1 - expectedMicro)).toBeLessThan(0.04);

    // Expected agreement of two different random reports on all 14 binarised labels.
    const key = labels.map((v) => v.map((x) => (isPositive(x, "positive") ? 1 : 0)).join(""));
    let agree = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && key[i] === key[j]) agree++;
    const expectedAccurate = agree / (n * (n - 1));
    expect(Math.abs(rep.audit.fullyAccurate.value - expectedAccurate)).toBeLessThan(0.04);
    expect(rep.audit.hallucination.value).toBeGreaterThan(0.5);
    expect(rep.audit.fullyAccurate.ci95[0]).toBeLessThanOrEqual(rep.audit.fullyAccurate.value);
    expect(rep.audit.fullyAccurate.ci95[1]).toBeGreaterThanOrEqual(rep.audit.fullyAccurate.value);
    expect(headline(rep).rougeL_rouge_score_f).toBeLessThan(0.9);
    expect(rep.audit.worst.length).toBe(10);
  });

  it("flags hallucination, omission and wrong side per report", () => {
    const rep = evaluate(
      [
        {
          id: "a",
          generated: "Small right pleural effusion. Heart size normal.",
          reference: "Small left pleural effusion. Heart size normal.",
        },
        {
          id: "b",
          generated: "Mild cardiomegaly. No effusion.",
          reference: "Heart size normal. No effusion.",
        },
        { id: "c", generated: "Heart size normal. Lungs clear.", reference: "Right upper lobe pneumonia." },
      ],
      { uncertain: "positive", bootstrap: 0 },
    );
    const [a, b, c] = rep.reports.map((r) => r.audit);
    expect(a.wrongLaterality.map((w) => w.label)).toEqual(["Pleural Effusion"]);
    expect(a.fullyAccurate).toBe(false);
    expect(b.hallucinated).toEqual(["Cardiomegaly"]);
    expect(c.omitted).toEqual(["Pneumonia"]);
    expect(rep.audit.worst.map((w) => w.id)).toContain("c");
  });

  it("uses given reference labels and scores the head", () => {
    const labels: LabelVector = CHEXPERT_LABELS.map((l) => (l === "Cardiomegaly" ? 1 : null));
    const other: LabelVector = CHEXPERT_LABELS.map(() => null);
    const probs = (x: number): number[] => CHEXPERT_LABELS.map((l) => (l === "Cardiomegaly" ? x : 0.1));
    const rep = evaluate(
      [
        {
          id: "1",
          generated: "Mild cardiomegaly.",
          reference: "whatever",
          referenceLabels: labels,
          headProbs: probs(0.9),
        },
        {
          id: "2",
          generated: "Normal.",
          reference: "whatever",
          referenceLabels: other,
          headProbs: probs(0.2),
        },
        {
          id: "3",
          generated: "Normal.",
          reference: "whatever",
          referenceLabels: labels,
          headProbs: probs(0.4),
        },
      ],
      { uncertain: "negative", bootstrap: 0 },
    );
    expect(rep.clinical.perLabel.Cardiomegaly).toMatchObject({ tp: 1, fn: 1, fp: 0 });
    expect(rep.head?.perLabel.Cardiomegaly.auroc).toBe(1);
    expect(rep.head?.perLabel.Cardiomegaly.f1).toBeCloseTo(2 / 3, 12);
    expect(headline(rep).head_macro_f1).toBeCloseTo(2 / 3, 12);
    expect(() =>
      evaluate([{ id: "x", generated: "", reference: "", referenceLabels: [1] }], { uncertain: "positive" }),
    ).toThrow(/14/);
  });
});

// The CheXpert-style labeler on single sentences: every observation, negation before and after the
// mention, uncertainty, double negatives, exclusions, scope boundaries, aggregation and laterality.
import { describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, type ChexpertLabel, type LabelValue } from "../../common/chexpert.js";
import { labelReport, labelReportDetailed } from "../../trainer/eval/index.js";

function value(text: string, label: ChexpertLabel): LabelValue {
  return labelReport(text)[CHEXPERT_LABELS.indexOf(label)];
}

const POSITIVE: Array<[ChexpertLabel, string]> = [
  ["Atelectasis", "Bibasilar subsegmental atelectasis."],
  ["Atelectasis", "Collapse of the right lower lobe."],
  ["Cardiomegaly", "Mild cardiomegaly."],
  ["Cardiomegaly", "The heart is moderately enlarged."],
  ["Cardiomegaly", "Enlarged cardiac silhouette."],
  ["Consolidation", "Right lower lobe consolidation."],
  ["Edema", "Mild interstitial pulmonary edema."],
  ["Edema", "Central vascular congestion."],
  ["Enlarged Cardiomediastinum", "The mediastinum is widened."],
  ["Enlarged Cardiomediastinum", "Enlarged cardiomediastinal silhouette."],
  ["Fracture", "Healed fracture of the left sixth rib."],
  ["Lung Lesion", "A 1 cm nodule in the right upper lobe."],
  ["Lung Lesion", "Left hilar mass."],
  ["Lung Opacity", "Patchy opacity in the left lung base."],
  ["Lung Opacity", "Right basilar airspace disease."],
  ["Pleural Effusion", "Small left pleural effusion."],
  ["Pleural Other", "Biapical pleural thickening."],
  ["Pleural Other", "Calcified pleural plaques."],
  ["Pneumonia", "Right middle lobe pneumonia."],
  ["Pneumothorax", "Small right apical pneumothorax."],
  ["Support Devices", "Left subclavian pacemaker with leads in the right atrium and ventricle."],
  ["Support Devices", "Endotracheal tube tip 4 cm above the carina."],
];

describe("mentions of every observation", () => {
  it.each(POSITIVE)("%s is positive in %j", (label, text) => {
    expect(value(text, label)).toBe(1);
  });

  it("covers all 13 mentioned observations", () => {
    const covered = new Set(POSITIVE.map(([l]) => l));
    expect(CHEXPERT_LABELS.filter((l) => l !== "No Finding" && !covered.has(l))).toEqual([]);
  });
});

describe("negation", () => {
  it.each<[ChexpertLabel, string]>([
    ["Pneumothorax", "No pneumothorax."],
    ["Pleural Effusion", "There is no pleural effusion or pneumothorax."],
    ["Pneumothorax", "There is no pleural effusion or pneumothorax."],
    ["Consolidation", "Lungs are clear without focal consolidation, effusion, or pneumothorax."],
    ["Pleural Effusion", "Lungs are clear without focal consolidation, effusion, or pneumothorax."],
    ["Lung Lesion", "No suspicious pulmonary nodules or masses."],
    ["Edema", "Negative for pulmonary edema."],
    ["Fracture", "No acute fracture identified."],
    ["Pneumothorax", "Pneumothorax is not seen."],
    ["Fracture", "Rib fractures may not be demonstrated on this study."],
    ["Pleural Effusion", "The left effusion has resolved."],
    ["Cardiomegaly", "Heart size is normal."],
    ["Cardiomegaly", "Normal heart size."],
    ["Cardiomegaly", "The heart is not enlarged."],
    ["Cardiomegaly", "The heart is upper limits of normal in size."],
    ["Enlarged Cardiomediastinum", "The cardiomediastinal silhouette is within normal limits."],
    ["Lung Opacity", "The lungs do not demonstrate focal infiltrate or effusion."],
    ["Pleural Effusion", "The lungs do not demonstrate focal infiltrate or effusion."],
    ["Edema", "Heart size and pulmonary vascular congestion appear within limits of normal."],
  ])("%s is negative in %j", (label, text) => {
    expect(value(text, label)).toBe(0);
  });

  it("does not reach across a sentence, a clause boundary or a new verb", () => {
    expect(value("No pneumothorax. Small left effusion.", "Pleural Effusion")).toBe(1);
    expect(value("No pneumothorax, but there is a small left effusion.", "Pleural Effusion")).toBe(1);
    expect(value("No pneumothorax; small left effusion.", "Pleural Effusion")).toBe(1);
    expect(value("No focal consolidation, with mild bibasilar atelectasis.", "Atelectasis")).toBe(1);
    expect(value("No pneumothorax.There is right lower lobe consolidation.", "Consolidation")).toBe(1);
  });

  it("hedges only what they hedge", () => {
    expect(value("Bibasilar airspace disease, possibly atelectasis.", "Lung Opacity")).toBe(1);
    expect(value("Bibasilar airspace disease, possibly atelectasis.", "Atelectasis")).toBe(-1);
    expect(value("Small effusion is present, cannot exclude pneumonia.", "Pleural Effusion")).toBe(1);
    expect(value("Small effusion is present, cannot exclude pneumonia.", "Pneumonia")).toBe(-1);
  });

  it("ignores negation words that do not deny the finding", () => {
    expect(value("No change in the small left pleural effusion.", "Pleural Effusion")).toBe(1);
    expect(value("No significant interval change in cardiomegaly.", "Cardiomegaly")).toBe(1);
  });
});

describe("uncertainty", () => {
  it.each<[ChexpertLabel, string]>([
    ["Pneumonia", "Findings may represent early pneumonia."],
    ["Pneumonia", "Possible right lower lobe pneumonia."],
    ["Atelectasis", "Streaky opacities, likely atelectasis."],
    ["Atelectasis", "Mild bibasilar infiltrates versus atelectasis."],
    ["Atelectasis", "Scarring or atelectasis in the left base."],
    ["Pleural Effusion", "Small pleural effusion cannot be excluded."],
    ["Pleural Effusion", "Cannot exclude small pleural effusions."],
    ["Pneumothorax", "Questionable tiny left apical pneumothorax."],
    ["Edema", "Differential diagnosis includes mild pulmonary edema."],
    ["Pleural Effusion", "Blunting of the left costophrenic angle."],
    ["Cardiomegaly", "Borderline cardiomegaly."],
    ["Consolidation", "Consolidation is not excluded."],
    ["Pleural Effusion", "Pleural effusion or pneumonia cannot be excluded."],
    ["Pneumonia", "Pleural effusion or pneumonia cannot be excluded."],
    ["Atelectasis", "Atelectasis is likely."],
    ["Pneumothorax", "Pneumothorax?"],
  ])("%s is uncertain in %j", (label, text) => {
    expect(value(text, label)).toBe(-1);
  });
});

describe("exclusions", () => {
  it.each<[ChexpertLabel, string]>([
    ["Pleural Effusion", "Small pericardial effusion."],
    ["Lung Lesion", "No mass effect."],
    ["Lung Lesion", "Calcified granulomas and calcified nodules, unchanged."],
    ["Lung Lesion", "Sclerotic bone lesion in the humerus."],
    ["Lung Opacity", "Nodular opacity in the right upper lobe."],
    ["Edema", "Soft tissue edema of the chest wall."],
    ["Support Devices", "This finding may lead to confusion."],
  ])("%s is not mentioned in %j", (label, text) => {
    expect(value(text, label)).toBeNull();
  });

  it("a nodular opacity is a lung lesion, not an opacity", () => {
    expect(value("Nodular opacity in the right upper lobe.", "Lung Lesion")).toBe(1);
  });
});

describe("aggregation", () => {
  it("a positive mention wins over negative and uncertain ones", () => {
    expect(
      value("No right effusion. Small left pleural effusion. Possible effusion.", "Pleural Effusion"),
    ).toBe(1);
    expect(value("No right effusion. Possible small left effusion.", "Pleural Effusion")).toBe(-1);
  });

  it("No Finding is 1 only when nothing is positive or uncertain; devices count unless the plain rule is asked", () => {
    const nf = (t: string): LabelValue => value(t, "No Finding");
    expect(nf("Heart size normal. Lungs are clear. No pneumothorax or pleural effusion.")).toBe(1);
    // The IU X-ray annotators coded a device as a finding; the plain CheXpert rule ignores devices.
    expect(nf("Right PICC tip in the SVC. Lungs are clear. No effusion.")).toBeNull();
    const device = labelReport("Right PICC tip in the SVC. Lungs are clear. No effusion.", {
      otherFindingsBlockNoFinding: false,
    });
    expect(device[CHEXPERT_LABELS.indexOf("No Finding")]).toBe(1);
    expect(nf("Possible small left effusion.")).toBeNull();
    expect(nf("Mild cardiomegaly. No effusion.")).toBeNull();
    // radfleet's extra rule: findings outside the 14 also block No Finding, unless asked not to.
    expect(nf("Calcified granuloma in the right upper lobe. Lungs otherwise clear.")).toBeNull();
    const plain = labelReport("Calcified granuloma in the right upper lobe.", {
      otherFindingsBlockNoFinding: false,
    });
    expect(plain[CHEXPERT_LABELS.indexOf("No Finding")]).toBe(1);
    expect(nf("No scoliosis. No effusion.")).toBe(1);
  });

  it("returns 14 values in CHEXPERT_LABELS order, blank for unmentioned", () => {
    const v = labelReport("Small left pleural effusion.");
    expect(v).toHaveLength(14);
    expect(v.filter((x) => x !== null)).toEqual([1]);
  });
});

describe("mention details", () => {
  it("gives offsets into the original text and a side", () => {
    const text =
      "FINDINGS: Small LEFT pleural effusion. Right lower lobe atelectasis. Bilateral pneumothoraces.";
    const d = labelReportDetailed(text);
    for (const m of d.mentions) expect(text.slice(m.start, m.end)).toBe(m.text);
    const side = (l: ChexpertLabel): string | undefined => d.mentions.find((m) => m.label === l)?.laterality;
    expect(side("Pleural Effusion")).toBe("left");
    expect(side("Atelectasis")).toBe("right");
    expect(side("Pneumothorax")).toBe("bilateral");
    expect(d.mentions.find((m) => m.label === "Pleural Effusion")?.status).toBe("positive");
  });

  it("keeps each finding's own side in a sentence naming two sides", () => {
    const d = labelReportDetailed(
      "Right lower lobe atelectasis and left pleural effusion. Opacity in the right base.",
    );
    const side = (l: ChexpertLabel): string | undefined => d.mentions.find((m) => m.label === l)?.laterality;
    expect(side("Atelectasis")).toBe("right");
    expect(side("Pleural Effusion")).toBe("left");
    expect(side("Lung Opacity")).toBe("right");
  });

  it("labels adversarial text: no punctuation for pages, long runs of apostrophes and hyphens", () => {
    const words = [
      "no",
      "effusion",
      "left",
      "heart",
      "is",
      "enlarged",
      "may",
      "or",
      "atelectasis",
      "with",
      "nodule",
    ];
    const long = Array.from({ length: 20000 }, (_, i) => words[(i * 7) % words.length]).join(" ");
    expect(labelReport(long)).toHaveLength(14);
    const odd = "Effusion " + "a'-".repeat(5000) + " is not seen.";
    expect(labelReport(odd)[CHEXPERT_LABELS.indexOf("Pleural Effusion")]).toBe(1);
  });

  it("reads R2Gen-style lowercased, tokenized generated text", () => {
    const t = "the heart is enlarged . there is a small left pleural effusion . no pneumothorax is seen .";
    const v = labelReport(t);
    expect(v[CHEXPERT_LABELS.indexOf("Cardiomegaly")]).toBe(1);
    expect(v[CHEXPERT_LABELS.indexOf("Pleural Effusion")]).toBe(1);
    expect(v[CHEXPERT_LABELS.indexOf("Pneumothorax")]).toBe(0);
  });

  it("handles empty and odd input", () => {
    expect(labelReport("")).toEqual([...Array(8).fill(null), 1, ...Array(5).fill(null)]);
    expect(labelReport("XXXX XXXX.\n\n???")[CHEXPERT_LABELS.indexOf("No Finding")]).toBe(1);
  });
});

describe("hedge grades", () => {
  const mention = (text: string, label: ChexpertLabel) =>
    labelReportDetailed(text).mentions.find((m) => m.label === label);

  it("grades a modal or an open question as possible, a leaning or an alternative as probable", () => {
    expect(mention("Opacity which may represent pneumonia.", "Pneumonia")?.hedge).toBe("possible");
    expect(mention("Pneumonia cannot be excluded.", "Pneumonia")?.hedge).toBe("possible");
    expect(mention("Opacity, likely pneumonia.", "Pneumonia")?.hedge).toBe("probable");
    expect(mention("Atelectasis versus pneumonia.", "Pneumonia")?.hedge).toBe("probable");
    expect(mention("Borderline cardiomegaly.", "Cardiomegaly")?.hedge).toBe("probable");
    expect(mention("Right lower lobe pneumonia.", "Pneumonia")?.hedge).toBeUndefined();
  });

  it("drops possible-grade mentions from their observation on request, but they still block No Finding", () => {
    const text = "Opacity which may represent pneumonia. Atelectasis versus consolidation.";
    const v = labelReport(text, { possibleHedge: "unmentioned" });
    expect(v[CHEXPERT_LABELS.indexOf("Pneumonia")]).toBeNull();
    expect(v[CHEXPERT_LABELS.indexOf("Consolidation")]).toBe(-1);
    expect(labelReport(text)[CHEXPERT_LABELS.indexOf("Pneumonia")]).toBe(-1);
    const alone = labelReport("Possible small left effusion.", { possibleHedge: "unmentioned" });
    expect(alone[CHEXPERT_LABELS.indexOf("Pleural Effusion")]).toBeNull();
    expect(alone[CHEXPERT_LABELS.indexOf("No Finding")]).toBeNull();
  });
});

describe("hedged forms read with a modal", () => {
  it("are possible, not probable", () => {
    const d = labelReportDetailed("Blunting of the right costophrenic angle may represent a small effusion.");
    expect(d.mentions.filter((m) => m.label === "Pleural Effusion").map((m) => m.hedge)).toEqual([
      "possible",
      "possible",
    ]);
    const plain = labelReportDetailed("Blunting of the right costophrenic angle.");
    expect(plain.mentions.find((m) => m.label === "Pleural Effusion")?.hedge).toBe("probable");
  });
});

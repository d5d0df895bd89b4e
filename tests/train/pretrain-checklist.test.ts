// The pretraining checklist: a study's observations as text, and back.
import { describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, type LabelVector } from "../../common/chexpert.js";
import { checklistText, checklistVocabulary, parseChecklist } from "../../trainer/train/index.js";

const labels = (set: Record<string, 1 | -1 | 0>): LabelVector => CHEXPERT_LABELS.map((l) => set[l] ?? null);

describe("pretraining checklist", () => {
  it("writes every observation but No Finding in a fixed order: yes, possible, or no", () => {
    const text = checklistText(labels({ Cardiomegaly: 1, Edema: -1, Pneumothorax: 0, "No Finding": 1 }));
    expect(text).toBe(
      "atelectasis no. cardiomegaly yes. consolidation no. edema possible. mediastinum no. fracture no. " +
        "nodule no. opacity no. effusion no. thickening no. pneumonia no. pneumothorax no. devices no.",
    );
  });

  it("reads a checklist back; skipped or garbled observations stay blank", () => {
    const v = labels({ Cardiomegaly: 1, Edema: -1, "Support Devices": 1 });
    const back = parseChecklist(checklistText(v));
    expect(back[CHEXPERT_LABELS.indexOf("Cardiomegaly")]).toBe(1);
    expect(back[CHEXPERT_LABELS.indexOf("Edema")]).toBe(-1);
    expect(back[CHEXPERT_LABELS.indexOf("Pneumothorax")]).toBe(0);
    expect(back[CHEXPERT_LABELS.indexOf("No Finding")]).toBeNull();
    const partial = parseChecklist("cardiomegaly yes. effusion maybe. effusion");
    expect(partial[CHEXPERT_LABELS.indexOf("Cardiomegaly")]).toBe(1);
    expect(partial[CHEXPERT_LABELS.indexOf("Pleural Effusion")]).toBeNull();
    expect(partial[CHEXPERT_LABELS.indexOf("Atelectasis")]).toBeNull();
  });

  it("its vocabulary holds every word a checklist uses", () => {
    const words = new Set(
      checklistVocabulary()
        .join(" ")
        .toLowerCase()
        .split(/[^a-z-]+/),
    );
    for (const w of checklistText(labels({ Edema: -1, Fracture: 1 }))
      .split(/[^a-z]+/)
      .filter(Boolean))
      expect(words.has(w), w).toBe(true);
  });
});

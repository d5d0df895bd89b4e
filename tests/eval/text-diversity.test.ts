import { describe, expect, it } from "vitest";
import { repeatedSentences, sentencesOf, textDiversity } from "../../trainer/eval/index.js";

describe("text diversity", () => {
  it("splits reports into normalised sentences", () => {
    expect(sentencesOf("No effusion.  The heart is  enlarged.\n\nCardiomegaly!")).toEqual([
      "no effusion",
      "the heart is enlarged",
      "cardiomegaly",
    ]);
    // A decimal point is not a sentence end.
    expect(sentencesOf("A 3.5 cm nodule. No pneumothorax")).toEqual(["a 3.5 cm nodule", "no pneumothorax"]);
  });

  it("finds sentences said twice, whatever their case and spacing", () => {
    expect(repeatedSentences("no pneumothorax. No  pneumothorax. no effusion. no pneumothorax.")).toEqual([
      "no pneumothorax",
    ]);
    expect(repeatedSentences("no pneumothorax. no pleural effusion or pneumothorax.")).toEqual([]);
  });

  it("counts distinct and repeating reports, with the references' count for scale", () => {
    const d = textDiversity([
      { id: "a", generated: "No effusion.", reference: "Small effusion.\n\nSmall effusion." },
      { id: "b", generated: "no  effusion.", reference: "No effusion." },
      { id: "c", generated: "Cardiomegaly. Cardiomegaly.", reference: "Cardiomegaly." },
    ]);
    expect(d).toMatchObject({ reports: 3, distinct: 2, repeating: 1, referenceRepeating: 1 });
    expect(d.distinctRate).toBeCloseTo(2 / 3);
    expect(d.repeatingRate).toBeCloseTo(1 / 3);
    expect(d.examples).toEqual([{ id: "c", repeated: ["cardiomegaly"] }]);
  });
});

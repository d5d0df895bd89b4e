// The checks on what ranks gather from each other (trainer/train/recipe/gathered.ts). That real
// predictions and probabilities pass them is shown by recipe-evaluation.test.ts, which gathers
// them over a real two-rank ring; here, items of the wrong shape are refused with what was wrong.
import { describe, expect, it } from "vitest";
import { NUM_LABELS } from "../../common/chexpert.js";
import { checkHeadProbRows, checkPredictions, checkStep } from "../../trainer/train/recipe/gathered.js";

const probs = Array.from({ length: NUM_LABELS }, (_, i) => i / NUM_LABELS);
const labels = Array.from({ length: NUM_LABELS }, (_, i) => [1, 0, -1, null][i % 4]);
const record = { id: "s1", generated: "No acute findings.", reference: "Normal.", headProbs: probs };

describe("gathered items", () => {
  it("a step is an integer >= 0", () => {
    expect(checkStep(40)).toBe(40);
    expect(() => checkStep("40")).toThrow('restored step: expected an integer >= 0, got "40"');
    expect(() => checkStep(-1)).toThrow(/got -1/);
  });

  it("head probabilities are [id, 14 numbers in [0, 1]] rows; a NaN (null in JSON) is named", () => {
    const rows = [["s1", probs]];
    expect(checkHeadProbRows(rows)).toBe(rows);
    expect(() => checkHeadProbRows({ s1: probs })).toThrow(/expected an array of \[id, probabilities\]/);
    expect(() => checkHeadProbRows([["s1", probs.slice(1)]])).toThrow(
      /head probabilities of s1: expected 14/,
    );
    expect(() => checkHeadProbRows([["s1", [...probs.slice(1), null]]])).toThrow(
      /numbers in \[0, 1\], got null/,
    );
  });

  it("predictions keep what was sent and refuse records of the wrong shape", () => {
    const preds = [{ ...record, referenceLabels: labels, headTargets: labels, prompt: "Describe." }];
    expect(checkPredictions(preds)).toBe(preds);
    expect(() => checkPredictions([{ ...record, generated: 7 }])).toThrow(
      "predictions[0].generated: expected a string, got 7",
    );
    expect(() => checkPredictions([{ ...record, headTargets: [2, ...labels.slice(1)] }])).toThrow(
      /prediction s1\.headTargets: expected 1, 0, -1 or null, got 2/,
    );
    expect(() => checkPredictions([{ ...record, findingsTable: { rows: [] } }])).toThrow(
      /prediction s1: findingsTable.rows: expected 14 rows/,
    );
    expect(() => checkPredictions([null])).toThrow("predictions[0]: expected a record, got null");
  });
});

// The decoding controls on one row's scores, as transformers' logits processors define them
// (tests/model/decoding-parity.test.ts checks whole generations against transformers itself).
import { describe, expect, it } from "vitest";
import { processScores, type ScoreControls } from "../../trainer/model/logits-processors.js";

const OFF: ScoreControls = { repetitionPenalty: 1, noRepeatNgramSize: 0, minNewTokens: 0, stopTokenIds: [] };
const scores = () => Float32Array.from([2, -2, 1, 0.5, -1, 3]);

describe("processScores", () => {
  it("changes nothing at Hugging Face's no-op values", () => {
    const s = scores();
    processScores(s, [0, 1, 2, 1, 2], 3, OFF);
    expect(Array.from(s)).toEqual(Array.from(scores()));
  });

  it("repetition penalty divides positive and multiplies negative scores of tokens seen, prompt included", () => {
    const s = scores();
    processScores(s, [0, 1, 0], 0, { ...OFF, repetitionPenalty: 2 });
    expect(Array.from(s)).toEqual([1, -4, 1, 0.5, -1, 3]);
  });

  it("no-repeat n-gram forbids each token that follows an earlier occurrence of the last n-1 tokens", () => {
    const s = scores();
    // Trigrams: the prefix (2, 1) occurred before, followed by 3 and by 4.
    processScores(s, [2, 1, 3, 2, 1, 4, 2, 1], 2, { ...OFF, noRepeatNgramSize: 3 });
    expect(Array.from(s)).toEqual([2, -2, 1, -Infinity, -Infinity, 3]);
    // Size 1 forbids every token already in the sequence.
    const u = scores();
    processScores(u, [5, 0], 0, { ...OFF, noRepeatNgramSize: 1 });
    expect(Array.from(u)).toEqual([-Infinity, -2, 1, 0.5, -1, -Infinity]);
    // A sequence shorter than n - 1 has no prefix to match.
    const v = scores();
    processScores(v, [1], 0, { ...OFF, noRepeatNgramSize: 3 });
    expect(Array.from(v)).toEqual(Array.from(scores()));
  });

  it("min new tokens forbids every stop token until that many tokens are generated", () => {
    const c = { ...OFF, minNewTokens: 2, stopTokenIds: [5, 3] };
    const early = scores();
    processScores(early, [0], 1, c);
    expect(Array.from(early)).toEqual([2, -2, 1, -Infinity, -1, -Infinity]);
    const enough = scores();
    processScores(enough, [0], 2, c);
    expect(Array.from(enough)).toEqual(Array.from(scores()));
  });
});

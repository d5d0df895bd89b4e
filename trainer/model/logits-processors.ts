// The logits processors of Hugging Face `generate` that radfleet honours, applied in transformers'
// order (RepetitionPenalty, NoRepeatNGram, MinNewTokensLength) to one row's next-token scores in
// place. Greedy search gives them the raw logits, beam search the log-probabilities, as transformers
// does; both see the whole sequence, prompt included.

export interface ScoreControls {
  /** 1 is off. */
  repetitionPenalty: number;
  /** 0 is off. */
  noRepeatNgramSize: number;
  /** 0 is off. */
  minNewTokens: number;
  stopTokenIds: readonly number[];
}

/** RepetitionPenaltyLogitsProcessor: every token already in the sequence has a positive score
 * divided by the penalty, a negative one multiplied. */
function penaliseRepeats(scores: Float32Array, sequence: readonly number[], penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(sequence))
    scores[id] = scores[id] > 0 ? scores[id] / penalty : scores[id] * penalty;
}

/** NoRepeatNGramLogitsProcessor: a token that would complete an n-gram already in the sequence is
 * forbidden. The last n − 1 tokens are the prefix; every earlier occurrence of it bans its follower. */
function banRepeatedNgrams(scores: Float32Array, sequence: readonly number[], n: number): void {
  const L = sequence.length;
  if (n === 0 || L + 1 < n) return;
  const prefixStart = L - n + 1;
  for (let i = 0; i + n <= L; i++) {
    let same = true;
    for (let k = 0; k < n - 1 && same; k++) same = sequence[i + k] === sequence[prefixStart + k];
    if (same) scores[sequence[i + n - 1]] = -Infinity;
  }
}

/** Applies the controls to `scores` (one row, length V) for a sequence with `generated` new tokens. */
export function processScores(
  scores: Float32Array,
  sequence: readonly number[],
  generated: number,
  c: ScoreControls,
): void {
  penaliseRepeats(scores, sequence, c.repetitionPenalty);
  banRepeatedNgrams(scores, sequence, c.noRepeatNgramSize);
  // MinNewTokensLengthLogitsProcessor: no end of sequence before the minimum.
  if (generated < c.minNewTokens) for (const id of c.stopTokenIds) scores[id] = -Infinity;
}

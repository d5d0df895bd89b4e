// Beam search, one prompt at a time, as transformers 5's `_beam_search` does it (early_stopping
// False, its default): each step keeps the best max(2, 1 + stop tokens) × width continuations of all
// beams; those of the first `width` that end (a stop token, or the last allowed step) join the
// finished set with score / (generated length) ** lengthPenalty, the best `width` that do not end
// run on. The search stops when no running beam can beat the worst of `width` finished ones.
import * as tf from "@tensorflow/tfjs";
import { Stepper } from "./decode-stepper.js";
import { scoreControls, type GenerateOptions } from "./generate.js";
import type { LlavaNetwork } from "./llava-network.js";
import { processScores } from "./logits-processors.js";

/** transformers' stand-in for "no score": a beam that does not exist or may not be picked. */
const NONE = -1e9;

interface Hypothesis {
  tokens: number[];
  score: number;
  finished: boolean;
}

interface Candidate {
  parent: number;
  token: number;
  score: number;
}

function logSoftmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return x.map((v) => v - lse);
}

/** Indices of the k largest scores, best first; ties keep the lower index first. */
function topK(scores: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (best.length === k && !(scores[i] > scores[best[k - 1]])) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && scores[i] > scores[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/** Stable sort, best first (torch.topk's order up to ties). */
function byScore<T extends { score: number }>(items: T[]): T[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => b.item.score - a.item.score || a.i - b.i)
    .map((x) => x.item);
}

export function generateBeam(
  model: LlavaNetwork,
  pixels: tf.Tensor4D,
  prompts: number[][],
  o: GenerateOptions,
): number[][] {
  // Width 1 runs the beam algorithm too (callers route it to generateGreedy, as transformers does).
  const width = o.numBeams ?? 1;
  const controls = scoreControls(o);
  const stop = new Set(controls.stopTokenIds);
  const lengthPenalty = o.lengthPenalty ?? 1;
  const keep = Math.max(2, 1 + stop.size) * width;
  const results: number[][] = [];
  for (let p = 0; p < prompts.length; p++) {
    const prompt = prompts[p];
    const pix = tf.tidy(
      () => tf.tile(pixels.slice([p, 0, 0, 0], [1, -1, -1, -1]), [width, 1, 1, 1]) as tf.Tensor4D,
    );
    const stepper = new Stepper(model, pix, o.useCache ?? true);
    try {
      // All beams start as the prompt; only the first counts until it has children.
      let running: Hypothesis[] = Array.from({ length: width }, (_, i) => ({
        tokens: [],
        score: i === 0 ? 0 : NONE,
        finished: false,
      }));
      let finished: Hypothesis[] = running.map(() => ({ tokens: [], score: NONE, finished: false }));
      let logits = stepper.start(running.map(() => prompt.slice()));
      for (let t = 0; t < o.maxNewTokens; t++) {
        const candidates: Candidate[] = [];
        running.forEach((beam, b) => {
          // As transformers' beam search: the processors act on log-probabilities, not on logits.
          const lp = logSoftmax(logits[b]);
          processScores(lp, [...prompt, ...beam.tokens], t, controls);
          for (const token of topK(lp, keep))
            candidates.push({ parent: b, token, score: beam.score + lp[token] });
        });
        const top = byScore(candidates).slice(0, keep);
        const last = t === o.maxNewTokens - 1;
        const ends = top.map((c) => last || stop.has(c.token));
        const grown = top.map((c) => [...running[c.parent].tokens, c.token]);

        const next = byScore(top.map((c, i) => ({ i, score: c.score + (ends[i] ? NONE : 0) }))).slice(
          0,
          width,
        );
        // Only the best `width` continuations may finish; the rest are spares for the running set.
        const norm = (t + 1) ** lengthPenalty;
        const fresh = top.map((c, i) => {
          const done = ends[i] && i < width;
          return { tokens: grown[i], score: c.score / norm + (done ? 0 : NONE), finished: done };
        });
        finished = byScore([...finished, ...fresh]).slice(0, width);

        const nextRunning = next.map(({ i, score }) => ({ tokens: grown[i], score, finished: false }));
        const best = nextRunning[0].score / norm;
        const worst = Math.min(...finished.map((f) => f.score));
        const canImprove = finished.some((f) => best > (f.finished ? worst : NONE));
        if (!canImprove || ends.every(Boolean)) break;
        running = nextRunning;
        logits = stepper.next(
          running.map((b) => [...prompt, ...b.tokens]),
          next.map(({ i }) => top[i].parent),
        );
      }
      const tokens = finished[0].tokens;
      results.push(tokens.length && stop.has(tokens[tokens.length - 1]) ? tokens.slice(0, -1) : tokens);
    } finally {
      stepper.dispose();
      pix.dispose();
    }
  }
  return results;
}

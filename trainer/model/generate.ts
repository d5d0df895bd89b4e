// Batched greedy and beam-search decoding with a key/value cache. The prompt (image features +
// instruction) is encoded once; each new token then costs one position per layer. `useCache: false`
// recomputes the whole sequence every step: slower, and the test that both give the same tokens.
import * as tf from "@tensorflow/tfjs";
import type { KvCache, LlavaNetwork } from "./llava-network.js";

export interface GenerateOptions {
  maxNewTokens: number;
  numBeams?: number;
  repetitionPenalty?: number;
  stopTokenIds?: number[];
  useCache?: boolean;
}

/** Hugging Face's repetition penalty: every token already in the sequence (prompt included, as
 * RepetitionPenaltyLogitsProcessor does) has a positive logit divided, a negative one multiplied. */
function penalise(logits: Float32Array, seen: number[], penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
}

function logSoftmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return x.map((v) => v - lse);
}

/** Runs the model on the whole prompt; returns the last position's logits [B, V] and the cache. */
function prefill(
  model: LlavaNetwork,
  pixels: tf.Tensor4D,
  ids: number[][],
  cache: KvCache | undefined,
): Float32Array[] {
  return tf.tidy(() => {
    const B = ids.length;
    const T = ids[0].length;
    const input = tf.tensor2d(ids.flat(), [B, T], "int32");
    const image = model.imageEmbeds(pixels, { training: false });
    const hidden = model.decode(model.embed(input, image), 0, { training: false }, cache);
    const last = hidden.slice([0, T - 1, 0], [B, 1, -1]) as tf.Tensor3D;
    const logits = model.lmHead(last).reshape([B, -1]).arraySync() as number[][];
    return logits.map((r) => Float32Array.from(r));
  });
}

function step(model: LlavaNetwork, tokens: number[], pos: number, cache: KvCache): Float32Array[] {
  return tf.tidy(() => {
    const x = model.embed(tf.tensor2d(tokens, [tokens.length, 1], "int32"), null);
    const hidden = model.decode(x, pos, { training: false }, cache);
    return (model.lmHead(hidden).reshape([tokens.length, -1]).arraySync() as number[][]).map((r) =>
      Float32Array.from(r),
    );
  });
}

function disposeCache(c: KvCache | undefined): void {
  if (c) tf.dispose([...c.k, ...c.v]);
}

/** Next-token logits for every row, either from the cache or by re-running the full sequence. */
class Stepper {
  private cache: KvCache | undefined;
  constructor(
    private readonly model: LlavaNetwork,
    private readonly pixels: tf.Tensor4D,
    private readonly useCache: boolean,
  ) {}

  start(ids: number[][]): Float32Array[] {
    this.cache = this.useCache ? { k: [], v: [], length: 0 } : undefined;
    return prefill(this.model, this.pixels, ids, this.cache);
  }

  /** `rows[i]` is the full sequence of row i; `parents[i]` the row whose cache it continues. */
  next(rows: number[][], parents: number[]): Float32Array[] {
    if (!this.cache) {
      const pix = tf.gather(this.pixels, parents);
      try {
        return prefill(this.model, pix as tf.Tensor4D, rows, undefined);
      } finally {
        pix.dispose();
      }
    }
    const c = this.cache;
    if (parents.some((p, i) => p !== i)) {
      const idx = tf.tensor1d(parents, "int32");
      for (let l = 0; l < c.k.length; l++) {
        const k = tf.gather(c.k[l], idx);
        const v = tf.gather(c.v[l], idx);
        tf.dispose([c.k[l], c.v[l]]);
        c.k[l] = k as tf.Tensor4D;
        c.v[l] = v as tf.Tensor4D;
      }
      idx.dispose();
    }
    return step(
      this.model,
      rows.map((r) => r[r.length - 1]),
      rows[0].length - 1,
      c,
    );
  }

  dispose(): void {
    disposeCache(this.cache);
  }
}

export function generateGreedy(
  model: LlavaNetwork,
  pixels: tf.Tensor4D,
  prompts: number[][],
  o: GenerateOptions,
): number[][] {
  const stop = new Set(o.stopTokenIds ?? []);
  const B = prompts.length;
  const rows = prompts.map((p) => p.slice());
  const out: number[][] = prompts.map(() => []);
  const done = new Array(B).fill(false);
  const stepper = new Stepper(model, pixels, o.useCache ?? true);
  const identity = rows.map((_, i) => i);
  try {
    let logits = stepper.start(rows);
    for (let t = 0; t < o.maxNewTokens; t++) {
      for (let b = 0; b < B; b++) {
        // Finished rows keep being fed their last token so every row grows by one per step and the
        // batch (and its key/value cache) stays rectangular.
        if (done[b]) {
          rows[b].push(rows[b][rows[b].length - 1]);
          continue;
        }
        penalise(logits[b], rows[b], o.repetitionPenalty ?? 1);
        let best = 0;
        for (let i = 1; i < logits[b].length; i++) if (logits[b][i] > logits[b][best]) best = i;
        if (stop.has(best)) done[b] = true;
        else out[b].push(best);
        rows[b].push(best);
      }
      if (done.every(Boolean) || t === o.maxNewTokens - 1) break;
      logits = stepper.next(rows, identity);
    }
  } finally {
    stepper.dispose();
  }
  return out;
}

interface Beam {
  tokens: number[];
  score: number;
  done: boolean;
}

/** Beam search per prompt (length-normalised scores as HF's default length_penalty = 1). */
export function generateBeam(
  model: LlavaNetwork,
  pixels: tf.Tensor4D,
  prompts: number[][],
  o: GenerateOptions,
): number[][] {
  // Width 1 runs the beam algorithm too (callers route it to generateGreedy, which is cheaper);
  // that both agree is what tests check the beam bookkeeping against.
  const width = o.numBeams ?? 1;
  const stop = new Set(o.stopTokenIds ?? []);
  const results: number[][] = [];
  for (let p = 0; p < prompts.length; p++) {
    const pix = tf.tidy(
      () => tf.tile(pixels.slice([p, 0, 0, 0], [1, -1, -1, -1]), [width, 1, 1, 1]) as tf.Tensor4D,
    );
    const stepper = new Stepper(model, pix, o.useCache ?? true);
    try {
      let beams: Beam[] = Array.from({ length: width }, (_, i) => ({
        tokens: [],
        score: i === 0 ? 0 : -Infinity,
        done: false,
      }));
      const finished: Beam[] = [];
      let logits = stepper.start(beams.map(() => prompts[p].slice()));
      for (let t = 0; t < o.maxNewTokens; t++) {
        const candidates: Array<{ parent: number; token: number; score: number }> = [];
        beams.forEach((beam, bi) => {
          if (beam.score === -Infinity) return;
          // As transformers' beam search: the penalty acts on log-probabilities, not on logits.
          const lp = logSoftmax(logits[bi]);
          penalise(lp, [...prompts[p], ...beam.tokens], o.repetitionPenalty ?? 1);
          const top = [...lp.keys()].sort((a, b) => lp[b] - lp[a]).slice(0, 2 * width);
          for (const tok of top) candidates.push({ parent: bi, token: tok, score: beam.score + lp[tok] });
        });
        candidates.sort((a, b) => b.score - a.score);
        const next: Array<{ parent: number; token: number; score: number }> = [];
        for (const c of candidates) {
          if (stop.has(c.token)) {
            finished.push({
              tokens: beams[c.parent].tokens,
              score: c.score / Math.max(1, beams[c.parent].tokens.length + 1),
              done: true,
            });
          } else next.push(c);
          if (next.length === width) break;
        }
        const bestFinished = Math.max(-Infinity, ...finished.map((f) => f.score));
        const bestOpen = next.length ? next[0].score / (t + 1) : -Infinity;
        if (
          next.length === 0 ||
          (finished.length >= width && bestFinished >= bestOpen) ||
          t === o.maxNewTokens - 1
        ) {
          for (const c of next)
            finished.push({
              tokens: [...beams[c.parent].tokens, c.token],
              score: c.score / (t + 1),
              done: false,
            });
          break;
        }
        const parents = next.map((c) => c.parent);
        beams = next.map((c) => ({
          tokens: [...beams[c.parent].tokens, c.token],
          score: c.score,
          done: false,
        }));
        while (beams.length < width)
          beams.push({ tokens: beams[0].tokens.slice(), score: -Infinity, done: false });
        while (parents.length < width) parents.push(parents[0]);
        logits = stepper.next(
          beams.map((b) => [...prompts[p], ...b.tokens]),
          parents,
        );
      }
      finished.sort((a, b) => b.score - a.score);
      results.push(finished[0]?.tokens ?? []);
    } finally {
      stepper.dispose();
      pix.dispose();
    }
  }
  return results;
}

// Batched greedy decoding, and the options both decoders take: the run spec's decoding controls
// (Hugging Face generate's, with its semantics) plus the stop tokens. Beam search is beam-search.ts.
import type * as tf from "@tensorflow/tfjs";
import type { GenerationOptions } from "../../common/spec/index.js";
import { Stepper } from "./decode-stepper.js";
import type { LlavaNetwork } from "./llava-network.js";
import { processScores, type ScoreControls } from "./logits-processors.js";

/** maxNewTokens is required; every other control defaults to Hugging Face's no-op value. */
export type GenerateOptions = Pick<GenerationOptions, "maxNewTokens"> &
  Partial<Omit<GenerationOptions, "maxNewTokens">> & {
    /** End-of-sequence tokens: generation of a row stops at one, which is not part of its output. */
    stopTokenIds?: number[];
    /** false recomputes the whole sequence each step (for testing the cache). */
    useCache?: boolean;
  };

export function scoreControls(o: GenerateOptions): ScoreControls {
  return {
    repetitionPenalty: o.repetitionPenalty ?? 1,
    noRepeatNgramSize: o.noRepeatNgramSize ?? 0,
    minNewTokens: o.minNewTokens ?? 0,
    stopTokenIds: o.stopTokenIds ?? [],
  };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

export function generateGreedy(
  model: LlavaNetwork,
  pixels: tf.Tensor4D,
  prompts: number[][],
  o: GenerateOptions,
): number[][] {
  const controls = scoreControls(o);
  const stop = new Set(controls.stopTokenIds);
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
        processScores(logits[b], rows[b], t, controls);
        const best = argmax(logits[b]);
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

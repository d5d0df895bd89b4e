// Writing reports for images, as evaluation and `radfleet generate` both do: the head's
// probabilities from a prompt-only forward, the findings table from them and the thresholds
// (task.findingsTable output or prompt), the prompt (carrying the table in prompt mode), then
// decoding. Training uses the same prompts and head pass (see recipe.ts).
import * as tf from "@tensorflow/tfjs";
import type { RunSpec } from "../../common/spec/index.js";
import { tableFromProbs, type FindingsTable } from "../findings/index.js";
import { describePrompt, TablePrompts } from "./table-prompts.js";
import { buildPrompt, type VisionLanguageModel } from "../model/index.js";
import { pixelTensor } from "./batch.js";

export interface GeneratedReport {
  report: string;
  /** the head's 14 sigmoid outputs */
  headProbs: number[];
  /** the head's table (findingsTable output or prompt) */
  findingsTable?: FindingsTable;
  /** what the model was asked, for people (prompt mode) */
  prompt?: string;
}

export class ReportGenerator {
  /** The plain prompt: image tokens and the instruction. */
  readonly prompt: number[];
  /** Table-carrying prompts, in prompt mode. */
  readonly tablePrompts: TablePrompts | undefined;
  private readonly mode: RunSpec["task"]["findingsTable"];

  constructor(
    private readonly model: VisionLanguageModel,
    private readonly spec: RunSpec,
  ) {
    this.mode = spec.task.findingsTable;
    this.prompt = buildPrompt(model.tokenizer, { numImageTokens: model.numImageTokens });
    this.tablePrompts =
      this.mode === "prompt" ? new TablePrompts(model.tokenizer, model.numImageTokens) : undefined;
  }

  /** The longest prompt a sequence must hold. */
  get maxPromptLength(): number {
    return this.tablePrompts?.maxLength ?? this.prompt.length;
  }

  pixels(images: Float32Array[]): tf.Tensor4D {
    return pixelTensor(images, this.spec.data.imageSize, this.model.imageChannels);
  }

  /**
   * The head's probabilities from a prompt-only forward. The decoder is causal and the pooled
   * positions (image tokens or projected features) come first, so this equals the full-sequence
   * head output whatever follows the prompt.
   */
  headProbs(images: Float32Array[]): number[][] {
    return tf.tidy(() => {
      const inputIds = tf.tensor2d(
        images.flatMap(() => this.prompt),
        [images.length, this.prompt.length],
        "int32",
      );
      const { clsLogits } = this.model.forward(
        { pixels: this.pixels(images), inputIds },
        { training: false },
      );
      return tf.sigmoid(clsLogits).arraySync() as number[][];
    });
  }

  /** Reports for a batch of images; probs when already known (they are computed otherwise). */
  async generate(
    images: Float32Array[],
    thresholds: readonly number[],
    probs: number[][] = this.headProbs(images),
  ): Promise<GeneratedReport[]> {
    const tok = this.model.tokenizer;
    const tables = this.mode === "none" ? undefined : probs.map((p) => tableFromProbs(p, thresholds));
    const prompts = images.map((_, j) =>
      this.tablePrompts ? this.tablePrompts.prompt(tables![j]) : this.prompt,
    );
    const gen = this.spec.evaluation.generation;
    const maxNewTokens = Math.min(gen.maxNewTokens, this.spec.data.maxReportTokens + 1);
    const pixels = this.pixels(images);
    let out: number[][];
    try {
      out = await this.model.generate(pixels, prompts, {
        ...gen,
        maxNewTokens,
        minNewTokens: Math.min(gen.minNewTokens, maxNewTokens),
        stopTokenIds: [tok.eosId],
      });
    } finally {
      pixels.dispose();
    }
    return out.map((ids, j) => ({
      report: tok.decode(ids),
      headProbs: probs[j],
      ...(tables ? { findingsTable: tables[j] } : {}),
      ...(this.tablePrompts ? { prompt: describePrompt(tok, prompts[j]) } : {}),
    }));
  }
}

// The training micro-batches of this rank's shard: examples from the sampler and their images (the
// step's "data" phase), then token ids, label targets and, in prompt mode, a findings table in each
// prompt. Report token ids and ground-truth tables are computed once per example.
//
// Prompt mode: each example's prompt carries the ground-truth table with probability
// tableTeacherForcing (a pure function of seed, step and example, so a resumed run and every world
// size draw alike), else the head's table for its image at the current thresholds. The head's
// prediction is made before the prompt exists (see trainer/findings).
import type { RunSpec } from "../../../common/spec/index.js";
import type { Example, ShardedSampler } from "../../data/index.js";
import { tableFromLabels, tableFromProbs, type FindingsTable } from "../../findings/index.js";
import type { VisionLanguageModel } from "../../model/index.js";
import { encodeExample, labelTargets, makeBatch, type TrainBatch } from "../batch.js";
import type { ReportGenerator } from "../report-generator.js";
import { PURPOSE, uniform } from "../rng.js";
import type { ImageLoader } from "./setup.js";

/** A micro-batch read from the shard, not yet encoded. */
export interface LoadedMicroBatch {
  /** Indices into the training split. */
  indices: number[];
  images: Float32Array[];
}

export interface TrainBatchesOptions {
  spec: RunSpec;
  train: Example[];
  model: Pick<VisionLanguageModel, "tokenizer" | "imageChannels">;
  generator: Pick<ReportGenerator, "prompt" | "tablePrompts" | "headProbs">;
  seqLen: number;
  loadImages: ImageLoader;
}

export class TrainBatches {
  private readonly reportIds = new Map<string, number[]>();
  private readonly truthTables = new Map<string, FindingsTable>();

  constructor(private readonly o: TrainBatchesOptions) {}

  /** The next micro-batch of the sampler's shard, with its images. */
  async load(sampler: ShardedSampler): Promise<LoadedMicroBatch> {
    const { indices } = sampler.next();
    const images = await this.o.loadImages(indices.map((i) => this.o.train[i]));
    return { indices, images };
  }

  /** The model's inputs for `loaded` at optimizer step `step`; the caller disposes the batch. */
  encode(loaded: LoadedMicroBatch, step: number, thresholds: readonly number[]): TrainBatch {
    const { spec, model, generator, seqLen } = this.o;
    const examples = loaded.indices.map((i) => this.o.train[i]);
    const prompts = generator.tablePrompts && this.tablePrompts(loaded, step, thresholds);
    const tok = model.tokenizer;
    const encoded = examples.map((e, j) => {
      let ids = this.reportIds.get(e.id);
      if (!ids) this.reportIds.set(e.id, (ids = tok.encode(e.report)));
      return encodeExample(prompts?.[j] ?? generator.prompt, ids, spec.data.maxReportTokens, tok, seqLen);
    });
    const cls = examples.map((e) => labelTargets(e.labels, spec.task.uncertainLabels));
    return makeBatch(
      examples.map((e) => e.id),
      loaded.images,
      spec.data.imageSize,
      model.imageChannels,
      encoded,
      cls,
    );
  }

  /** One prompt per example, each carrying the truth's table or the head's (see the file comment). */
  private tablePrompts(loaded: LoadedMicroBatch, step: number, thresholds: readonly number[]): number[][] {
    const { spec, generator } = this.o;
    const { indices, images } = loaded;
    const truth = indices.map(
      (i) =>
        uniform(spec.training.seed, PURPOSE.tableTeacherForcing, step, i) < spec.task.tableTeacherForcing,
    );
    const probs = truth.every(Boolean) ? [] : generator.headProbs(images);
    return indices.map((i, j) =>
      generator.tablePrompts!.prompt(
        truth[j] ? this.truthTable(this.o.train[i]) : tableFromProbs(probs[j], thresholds),
      ),
    );
  }

  private truthTable(e: Example): FindingsTable {
    let t = this.truthTables.get(e.id);
    if (!t) this.truthTables.set(e.id, (t = tableFromLabels(e.labels, e.report)));
    return t;
  }
}

// The training recipe, read top to bottom: setup → generations → steps → checkpoint → evaluation.
//
// One step: a batch from this rank's shard → forward → loss = LM cross-entropy on the report tokens
// + λ · BCE on the 14 labels → backward (LoRA adapters and the head only) → gradient all-reduce
// (mean) → clip → AdamW → learning-rate schedule. With task.findingsTable = prompt, each prompt
// first gets a findings table: the ground truth's with probability tableTeacherForcing, else the
// head's own prediction for that image (made before the prompt exists: see trainer/findings). Everything random is a pure function of
// (seed, step, rank), and the optimizer runs on the all-reduced bits, so replicas stay identical
// and a run resumed from a checkpoint repeats an uninterrupted run bit for bit.
import * as tf from "@tensorflow/tfjs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../common/log.js";
import type { Registry } from "../../common/metrics.js";
import type { RunSpec } from "../../common/spec/index.js";
import { bucketViews, Collective, CollectiveError, type CollectiveListener } from "../collective/index.js";
import { loadDataset, loadImage, ShardedSampler, type Example, type SamplerState } from "../data/index.js";
import { countParameters, type VisionLanguageModel } from "../model/index.js";
import { buildRunModel, runModelBase, RunSetupError } from "./run-model.js";
import { ReportGenerator } from "./report-generator.js";
import { evaluate, headline, writeEvalReport, type EvalRecord } from "../eval/index.js";
import {
  CheckpointCorruptError,
  CheckpointPartMissingError,
  checkpointKey,
  type CheckpointStore,
} from "../checkpoint/index.js";
import { decodeCheckpoint, encodeCheckpoint, type TrainerState } from "../checkpoint/index.js";
import type { Coordination, GenerationInfo, CheckpointRef } from "./coordination.js";
import { encodeExample, labelTargets, makeBatch, type TrainBatch } from "./batch.js";
import {
  defaultThresholds,
  longestTables,
  renderTableText,
  tableFromLabels,
  tableFromProbs,
  THRESHOLDS_FILE,
  tuneThresholds,
  type FindingsTable,
  type ThresholdsFile,
} from "../findings/index.js";
import { maskedBce, maskedCrossEntropy } from "./losses.js";
import {
  ADAMW_DEFAULTS,
  adamwStep,
  allFinite,
  clipByGlobalNorm,
  newAdamWState,
  type AdamWState,
} from "../optim/index.js";
import { FlatParams } from "./params.js";
import { deriveSeed, PURPOSE, uniform } from "./rng.js";
import { learningRate } from "../optim/index.js";
import type { TrainerMetrics } from "./metrics.js";

export interface RecipeContext {
  spec: RunSpec;
  runId: string;
  runDir: string;
  log: Logger;
  metrics: TrainerMetrics;
  /** Where the collective registers its all-reduce metrics. */
  registry?: Registry;
  coordination: Coordination;
  store: CheckpointStore;
  listener: CollectiveListener;
  /** Aborted on SIGTERM/SIGINT: the workers finish the step together, checkpoint and exit. */
  stop: AbortSignal;
  /**
   * Fault injection for failure tests: at these optimizer steps (0-based) and on this rank, the
   * local loss is replaced by NaN before the all-reduce, as a real overflow would be.
   */
  injectNonFinite?: { steps: number[]; rank: number };
  /** Fault injection: at these steps on this rank, one parameter is nudged after the update (a silent divergence). */
  injectDivergence?: { steps: number[]; rank: number };
  /** Called when this process's rank changes (metric labels follow the rank). */
  onRank?: (rank: number, generation: number) => void;
  /** The tensor engine and its threads ("tensorflow 2.21.0, 1 thread"), recorded in checkpoints. */
  engine?: string;
}

export type RecipeOutcome =
  { status: "done" | "stopped"; step: number } | { status: "failed"; step: number; reason: string };

export class TrainingFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingFailure";
  }
}

/** Optimizer steps of a run: spec.training.steps, or epochs over the training split at full width. */
export function totalStepsOf(spec: RunSpec, trainSize: number): number {
  if (spec.training.steps !== undefined) return spec.training.steps;
  if (spec.training.epochs !== undefined) {
    const perStep = spec.replicas.max * spec.training.batchSize * spec.training.gradAccum;
    return Math.max(1, Math.floor((spec.training.epochs * trainSize) / perStep));
  }
  return 300;
}

interface RunState {
  step: number;
  sampler: SamplerState;
  opt: AdamWState;
  nonFiniteInARow: number;
  lastCheckpointStep: number | undefined;
  /** The head's per-observation thresholds for findings tables (tuned at each evaluation). */
  thresholds: number[];
}

export async function runRecipe(ctx: RecipeContext): Promise<RecipeOutcome> {
  const { spec, log, metrics } = ctx;

  // ---- setup ---------------------------------------------------------------------------------
  const dataset = await loadDataset({
    format: spec.data.format,
    root: spec.data.path,
    section: spec.data.section,
    views: spec.data.views,
  });
  const trainSet = dataset.examples.filter((e) => e.split === "train");
  const ofSplit = (split: string) =>
    dataset.examples.filter((e) => e.split === split).slice(0, spec.evaluation.maxSamples);
  // Reports generated and scored; thresholds of the findings table are tuned on validate.
  const evalSet = ofSplit(spec.evaluation.split);
  const tableMode = spec.task.findingsTable;
  const tuneSet = tableMode === "none" ? [] : ofSplit("validate");
  if (trainSet.length === 0) throw new TrainingFailure(`data set ${spec.data.path} has no training examples`);
  log.info("data_loaded", {
    train: trainSet.length,
    evaluate: evalSet.length,
    evaluationSplit: spec.evaluation.split,
    skipped: dataset.skipped,
  });

  let model: VisionLanguageModel;
  try {
    model = await buildRunModel(
      spec,
      trainSet.map((e) => e.report),
    );
  } catch (err) {
    if (err instanceof RunSetupError) throw new TrainingFailure(err.message);
    throw err;
  }
  const params = new FlatParams(model.trainableVariables());
  const initialParams = params.read();
  const totalSteps = totalStepsOf(spec, trainSet.length);
  metrics.totalSteps.set(totalSteps);

  const tok = model.tokenizer;
  const generator = new ReportGenerator(model, spec);
  const { prompt, tablePrompts } = generator;
  // One sequence length for every batch: the longest prompt + the report budget + the end token.
  const seqLen = generator.maxPromptLength + spec.data.maxReportTokens + 1;
  if (tableMode !== "none" && tok.unkId >= 0) {
    const unknown = longestTables()
      .map(renderTableText)
      .filter((text) => tok.encode(text).includes(tok.unkId));
    if (unknown.length) log.warn("findings_table_unknown_words", { tables: unknown });
  }
  log.info("model_ready", {
    base: runModelBase(spec),
    nf4Layers: model.network.loraLayers().filter((l) => l.quantized !== null).length,
    trainableParameters: params.size,
    totalParameters: countParameters(model.config).total,
    sequenceLength: seqLen,
    findingsTable: tableMode,
    totalSteps,
  });
  const imageOpts = {
    size: spec.data.imageSize,
    cacheDir: spec.data.cacheDir ?? join(spec.data.path, ".cache"),
  };
  const channels = model.imageChannels;

  const loadImages = (examples: Example[]) =>
    Promise.all(examples.map((e) => loadImage(e.imagePath!, imageOpts)));

  // Report token ids per example, and the ground-truth table per example, computed once.
  const reportIds = new Map<string, number[]>();
  const truthTables = new Map<string, FindingsTable>();
  const truthTable = (e: Example) => {
    let t = truthTables.get(e.id);
    if (!t) truthTables.set(e.id, (t = tableFromLabels(e.labels, e.report)));
    return t;
  };

  const headProbs = (images: Float32Array[]) => generator.headProbs(images);

  /** prompts: one per example (a findings table in each); the plain prompt when absent. */
  function buildBatch(examples: Example[], images: Float32Array[], prompts?: number[][]): TrainBatch {
    const encoded = examples.map((e, j) => {
      let ids = reportIds.get(e.id);
      if (!ids) reportIds.set(e.id, (ids = tok.encode(e.report)));
      return encodeExample(prompts?.[j] ?? prompt, ids, spec.data.maxReportTokens, tok, seqLen);
    });
    const cls = examples.map((e) => labelTargets(e.labels, spec.task.uncertainLabels));
    return makeBatch(
      examples.map((e) => e.id),
      images,
      spec.data.imageSize,
      channels,
      encoded,
      cls,
    );
  }

  const freshState = (): RunState => ({
    step: 0,
    sampler: { seed: spec.training.seed, epoch: 0, consumed: 0 },
    opt: newAdamWState(params.size),
    nonFiniteInARow: 0,
    lastCheckpointStep: undefined,
    thresholds: defaultThresholds(),
  });

  // ---- checkpoint ----------------------------------------------------------------------------
  async function saveCheckpoint(g: GenerationInfo, state: RunState): Promise<void> {
    const t0 = performance.now();
    try {
      if (g.rank !== 0) {
        // Replicas are identical, so rank 0 writes every part; the others only vote to commit.
        await ctx.coordination.commitCheckpoint(g.generation, state.step, []);
        state.lastCheckpointStep = state.step;
        return;
      }
      const trainerState: TrainerState = {
        step: state.step,
        totalSteps,
        sampler: state.sampler,
        nonFiniteInARow: state.nonFiniteInARow,
        optimizerT: state.opt.t,
        paramsSha256: params.checksum(),
        worldSize: g.worldSize,
        generation: g.generation,
        findingsThresholds: state.thresholds,
        engine: ctx.engine,
      };
      const parts = encodeCheckpoint({
        adapter: model.adapterTensors(),
        adapterConfig: model.adapterConfig(),
        optimizer: state.opt,
        state: trainerState,
      });
      const key = checkpointKey(state.step);
      const stored = [];
      try {
        for (const [name, bytes] of parts) stored.push(await ctx.store.put(key, name, bytes));
      } catch (err) {
        // Release the other ranks' votes: the coordinator refuses this step, so nobody waits on it.
        await ctx.coordination.abandonCheckpoint(g.generation, state.step, [...parts.keys()]);
        throw err;
      }
      await ctx.coordination.commitCheckpoint(g.generation, state.step, stored);
      state.lastCheckpointStep = state.step;
      metrics.lastCommit.set(Date.now() / 1000);
      metrics.checkpointDuration.observe((performance.now() - t0) / 1000);
      log.info("checkpoint_committed", { step: state.step, location: ctx.store.location });
      await pruneCheckpoints(state.step);
    } catch (err) {
      // The last committed checkpoint is untouched; training goes on until the next interval.
      metrics.checkpointFailures.inc();
      log.error("checkpoint_failed", { step: state.step, err });
    }
  }

  // Steps of committed checkpoints this process knows of, oldest first; beyond `keep`, the oldest
  // are removed from the store (the coordinator's list forgets them too).
  const retained: number[] = [];
  async function pruneCheckpoints(step: number): Promise<void> {
    if (retained.length === 0) {
      for (const c of await ctx.coordination.committedCheckpoints())
        if (c.step !== step) retained.unshift(c.step);
    }
    retained.push(step);
    while (retained.length > spec.checkpoint.keep) {
      const old = retained.shift()!;
      await ctx.store
        .remove(checkpointKey(old))
        .catch((err) => log.warn("checkpoint_prune_failed", { step: old, err }));
    }
  }

  async function restore(ref: CheckpointRef | null, atMost = Infinity): Promise<RunState> {
    if (!ref) {
      params.write(initialParams);
      return freshState();
    }
    // Newest first; a checkpoint whose parts fail their checksums falls back to the previous one.
    const candidates = [
      ref,
      ...(await ctx.coordination.committedCheckpoints()).filter((c) => c.step < ref.step),
    ].filter((c) => c.step <= atMost);
    for (const c of candidates) {
      const parts = new Map<string, Uint8Array>();
      try {
        for (const p of c.parts) parts.set(p.name, await ctx.store.get(p.uri));
      } catch (err) {
        // A part that is gone falls back like a corrupt one. Any other failed read (the store is
        // unreachable for a moment) must not: ranks falling back on their own would resume from
        // different steps. The trainer fails and its restart reads again.
        if (!(err instanceof CheckpointPartMissingError)) throw err;
        log.warn("checkpoint_unusable", { step: c.step, err });
        continue;
      }
      try {
        const ck = decodeCheckpoint(c, parts);
        model.loadAdapterTensors(ck.adapter);
        if (params.checksum() !== ck.state.paramsSha256) {
          throw new CheckpointCorruptError(
            c.step,
            "adapter_model.safetensors",
            "does not reproduce the saved parameters",
          );
        }
        log.info("checkpoint_restored", { step: c.step });
        if (ck.state.engine && ctx.engine && ck.state.engine !== ctx.engine) {
          // Correct either way; only bit-for-bit equality with an uninterrupted run is lost.
          log.warn("engine_changed", {
            step: c.step,
            checkpointEngine: ck.state.engine,
            engine: ctx.engine,
            message:
              "resumed on another tensor engine or thread count: the run continues, but not bit-identical to an uninterrupted one",
          });
        }
        return {
          step: ck.state.step,
          sampler: ck.state.sampler,
          opt: ck.optimizer,
          nonFiniteInARow: ck.state.nonFiniteInARow,
          lastCheckpointStep: ck.state.step,
          thresholds: ck.state.findingsThresholds ?? defaultThresholds(),
        };
      } catch (err) {
        log.warn("checkpoint_unusable", { step: c.step, err });
      }
    }
    throw new TrainingFailure("no committed checkpoint could be restored (all failed their checksums)");
  }

  // ---- evaluation ----------------------------------------------------------------------------
  /** The thresholds the latest tuning produced, saved beside the final adapter. */
  let lastThresholds: ThresholdsFile | undefined;

  /** The head's probabilities for examples sharded over the ranks, gathered in id order on every rank. */
  async function gatherHeadProbs(
    g: GenerationInfo,
    collective: Collective,
    examples: Example[],
  ): Promise<Map<string, number[]>> {
    const mine = examples.filter((_, i) => i % g.worldSize === g.rank);
    const rows: Array<[string, number[]]> = [];
    for (let i = 0; i < mine.length; i += spec.training.batchSize) {
      const chunk = mine.slice(i, i + spec.training.batchSize);
      const probs = headProbs(await loadImages(chunk));
      chunk.forEach((e, j) => rows.push([e.id, probs[j]]));
    }
    const gathered = await collective.allGather(new TextEncoder().encode(JSON.stringify(rows)));
    return new Map(
      gathered.flatMap((b) => JSON.parse(new TextDecoder().decode(b)) as Array<[string, number[]]>),
    );
  }

  /**
   * Tunes the table thresholds on the validation reports. Every rank computes the same numbers from
   * the same gathered probabilities, so the thresholds the training prompts use stay identical.
   */
  async function tuneTableThresholds(
    g: GenerationInfo,
    collective: Collective,
    state: RunState,
  ): Promise<{ file: ThresholdsFile; probs: Map<string, number[]> }> {
    const probs = tuneSet.length
      ? await gatherHeadProbs(g, collective, tuneSet)
      : new Map<string, number[]>();
    // With no validation reports every observation keeps the default threshold (recorded as such).
    const tuned = tuneThresholds(
      tuneSet.map((e) => probs.get(e.id)!),
      tuneSet.map((e) => e.labels),
      spec.evaluation.uncertain,
      { split: "validate", reports: tuneSet.length, step: state.step },
    );
    state.thresholds = tuned.thresholds;
    lastThresholds = tuned.file;
    return { file: tuned.file, probs };
  }

  /** tunedBefore: thresholds this step already tuned (tuned here otherwise, in table modes). */
  async function runEvaluation(
    g: GenerationInfo,
    collective: Collective,
    state: RunState,
    final: boolean,
    tunedBefore?: Awaited<ReturnType<typeof tuneTableThresholds>>,
  ): Promise<void> {
    const tuned =
      tunedBefore ?? (tableMode === "none" ? undefined : await tuneTableThresholds(g, collective, state));
    if (evalSet.length === 0) return;
    const mine = evalSet.filter((_, i) => i % g.worldSize === g.rank);
    const records: Array<EvalRecord & { prompt?: string }> = [];
    for (let i = 0; i < mine.length; i += spec.training.batchSize) {
      const chunk = mine.slice(i, i + spec.training.batchSize);
      const images = await loadImages(chunk);
      const known = chunk.map((e) => tuned?.probs.get(e.id));
      const reports = await generator.generate(
        images,
        state.thresholds,
        known.every((p) => p !== undefined) ? (known as number[][]) : undefined,
      );
      chunk.forEach((e, j) => {
        const { report, ...rest } = reports[j];
        records.push({
          id: e.id,
          generated: report,
          reference: e.report,
          referenceLabels: e.labels,
          headTargets: e.labels,
          ...rest,
        });
      });
    }
    const gathered = await collective.allGather(new TextEncoder().encode(JSON.stringify(records)));
    if (g.rank !== 0) return;
    const all = gathered.flatMap((b) => JSON.parse(new TextDecoder().decode(b)) as typeof records);
    all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const report = evaluate(all, { uncertain: spec.evaluation.uncertain, seed: spec.training.seed });
    const dir = join(ctx.runDir, "eval", final ? "final" : checkpointKey(state.step));
    await writeEvalReport(dir, report);
    await writeFile(join(dir, "predictions.jsonl"), all.map((r) => JSON.stringify(r)).join("\n") + "\n");
    if (tuned) await writeFile(join(dir, THRESHOLDS_FILE), JSON.stringify(tuned.file, null, 2) + "\n");
    const head = headline(report);
    for (const [k, v] of Object.entries(head)) metrics.evalMetric.set({ metric: k }, v);
    ctx.coordination.reportProgress({
      ...lastProgress,
      evaluation: head,
      phase: final ? "finished" : "training",
    });
    log.info("evaluation_completed", { step: state.step, dir, ...head });
  }

  // ---- one optimizer step --------------------------------------------------------------------
  const lambda = spec.task.clsWeight;
  const grads = new Float32Array(params.size);
  const micro = new Float32Array(params.size);
  const EXTRA = 3; // lm loss, cls loss, stop flag travel with the gradients
  const reduceBuf = new Float32Array(params.size + EXTRA);
  const flat = new Float32Array(params.size);
  let lastProgress = {
    step: 0,
    totalSteps,
    loss: NaN,
    lmLoss: NaN,
    clsLoss: NaN,
    learningRate: 0,
    samplesPerSecond: 0,
  };

  async function step(
    g: GenerationInfo,
    collective: Collective,
    sampler: ShardedSampler,
    state: RunState,
  ): Promise<{ stop: boolean }> {
    const tStep = performance.now();
    let tData = 0;
    let tCompute = 0;
    let lmSum = 0;
    let clsSum = 0;
    let samples = 0;
    let tokens = 0;
    const batchIds: string[] = [];
    grads.fill(0);
    for (let a = 0; a < spec.training.gradAccum; a++) {
      const t0 = performance.now();
      const { indices } = sampler.next();
      const examples = indices.map((i) => trainSet[i]);
      const images = await loadImages(examples);
      const t1 = performance.now();
      tData += t1 - t0;
      const prompts = tablePrompts && trainingPrompts(indices, images, state);
      const batch = buildBatch(examples, images, prompts);
      try {
        const dropoutSeed = deriveSeed(spec.training.seed, PURPOSE.dropout, state.step, a, g.rank);
        let lm = 0;
        let cls = 0;
        const { value, grads: g2 } = tf.variableGrads(
          () => {
            const out = model.forward(batch, { training: true, dropoutSeed });
            const lmLoss = maskedCrossEntropy(out.logits, batch.targets, batch.lossMask);
            const clsLoss = maskedBce(out.clsLogits, batch.clsTargets, batch.clsMask);
            lm = lmLoss.dataSync()[0];
            cls = clsLoss.dataSync()[0];
            return lambda > 0 ? tf.add(lmLoss, tf.mul(clsLoss, lambda)) : lmLoss;
          },
          params.slots.map((s) => s.variable),
        );
        params.flattenGrads(g2, micro);
        for (let i = 0; i < grads.length; i++) grads[i] += micro[i];
        tf.dispose([value, ...Object.values(g2)]);
        lmSum += lm;
        clsSum += cls;
      } finally {
        samples += batch.ids.length;
        tokens += batch.tokens;
        batchIds.push(...batch.ids);
        batch.dispose();
      }
      tCompute += performance.now() - t1;
    }
    const accum = spec.training.gradAccum;
    const t2 = performance.now();
    for (let i = 0; i < grads.length; i++) reduceBuf[i] = grads[i] / accum;
    reduceBuf[params.size] = lmSum / accum;
    if (ctx.injectNonFinite?.rank === g.rank && ctx.injectNonFinite.steps.includes(state.step))
      reduceBuf[0] = NaN;
    reduceBuf[params.size + 1] = clsSum / accum;
    reduceBuf[params.size + 2] = ctx.stop.aborted ? 1 : 0;
    await collective.allReduceMany(bucketViews(reduceBuf, spec.collective.bucketBytes), "sum");
    const t3 = performance.now();
    const W = g.worldSize;
    for (let i = 0; i < grads.length; i++) grads[i] = reduceBuf[i] / W;
    const lmLoss = reduceBuf[params.size] / W;
    const clsLoss = reduceBuf[params.size + 1] / W;
    const stop = reduceBuf[params.size + 2] > 0;
    const loss = lmLoss + lambda * clsLoss;
    const lr = learningRate(state.step, {
      kind: spec.training.schedule,
      peak: spec.training.learningRate,
      warmupSteps: spec.training.warmupSteps,
      totalSteps,
    });

    // A non-finite value anywhere makes the reduced buffer non-finite on every rank, so all
    // replicas decide the same way without another round trip.
    if (!Number.isFinite(loss) || !allFinite(grads)) {
      state.nonFiniteInARow += 1;
      metrics.nonFinite.inc();
      log.warn("nonfinite_step_skipped", {
        step: state.step,
        loss,
        inARow: state.nonFiniteInARow,
        examples: batchIds,
      });
      if (state.nonFiniteInARow >= spec.training.maxNonFiniteSteps) {
        throw new TrainingFailure(
          `${state.nonFiniteInARow} consecutive steps had a non-finite loss or gradient (last at step ${state.step}, examples ${batchIds.join(", ")})`,
        );
      }
    } else {
      state.nonFiniteInARow = 0;
      const norm = clipByGlobalNorm(grads, spec.training.clipNorm);
      params.read(flat);
      adamwStep(flat, grads, state.opt, lr, { ...ADAMW_DEFAULTS, weightDecay: spec.training.weightDecay });
      if (ctx.injectDivergence?.rank === g.rank && ctx.injectDivergence.steps.includes(state.step))
        flat[0] += 1e-3;
      params.write(flat);
      metrics.gradNorm.set(norm);
    }
    const t4 = performance.now();
    state.step += 1;
    state.sampler = sampler.state();

    const seconds = (t4 - tStep) / 1000;
    metrics.stepPhase.observe({ phase: "data" }, tData / 1000);
    metrics.stepPhase.observe({ phase: "forward_backward" }, tCompute / 1000);
    metrics.stepPhase.observe({ phase: "allreduce" }, (t3 - t2) / 1000);
    metrics.stepPhase.observe({ phase: "optimizer" }, (t4 - t3) / 1000);
    metrics.loss.set({ kind: "total" }, loss);
    metrics.loss.set({ kind: "lm" }, lmLoss);
    metrics.loss.set({ kind: "cls" }, clsLoss);
    metrics.learningRate.set(lr);
    metrics.step.set(state.step);
    metrics.samples.inc(samples);
    metrics.tokens.inc(tokens);
    metrics.tensorMemory.set(tf.memory().numBytes);
    lastProgress = {
      step: state.step,
      totalSteps,
      loss,
      lmLoss,
      clsLoss,
      learningRate: lr,
      samplesPerSecond: (samples * W) / seconds,
    };
    if (g.rank === 0)
      ctx.coordination.reportProgress({
        ...lastProgress,
        lastCheckpointStep: state.lastCheckpointStep,
        phase: "training",
      });
    const ms = (x: number) => Number(x.toFixed(2));
    log.info("step", {
      step: state.step,
      loss,
      lmLoss,
      clsLoss,
      lr,
      seconds: Number(seconds.toFixed(4)),
      phasesMs: {
        data: ms(tData),
        forwardBackward: ms(tCompute),
        allreduce: ms(t3 - t2),
        optimizer: ms(t4 - t3),
      },
    });
    return { stop };
  }

  /**
   * Prompt mode: each example's prompt carries the ground-truth table with probability
   * tableTeacherForcing (a pure function of seed, step and example, so resume and every world size
   * draw alike), else the head's table for its image at the current thresholds.
   */
  function trainingPrompts(indices: number[], images: Float32Array[], state: RunState): number[][] {
    const truth = indices.map(
      (i) =>
        uniform(spec.training.seed, PURPOSE.tableTeacherForcing, state.step, i) <
        spec.task.tableTeacherForcing,
    );
    const probs = truth.every(Boolean) ? [] : headProbs(images);
    return indices.map((i, j) =>
      tablePrompts!.prompt(truth[j] ? truthTable(trainSet[i]) : tableFromProbs(probs[j], state.thresholds)),
    );
  }

  async function verifyReplicas(collective: Collective, state: RunState): Promise<void> {
    const mine = params.checksum();
    const all = (await collective.allGather(new TextEncoder().encode(mine))).map((b) =>
      new TextDecoder().decode(b),
    );
    if (all.some((c) => c !== mine)) {
      throw new TrainingFailure(
        `replicas diverged at step ${state.step}: parameter checksums ${all.join(", ")}`,
      );
    }
  }

  // ---- generations ---------------------------------------------------------------------------
  for (;;) {
    const g = await ctx.coordination.join();
    ctx.onRank?.(g.rank, g.generation);
    const glog = log.child({ generation: g.generation, rank: g.rank });
    glog.info("generation_joined", { worldSize: g.worldSize, resumeFrom: g.resumeFrom?.step ?? null });
    let collective: Collective | undefined;
    try {
      collective = await Collective.connect({
        rank: g.rank,
        worldSize: g.worldSize,
        generation: g.generation,
        peers: g.peers,
        listener: ctx.listener,
        timeoutMs: spec.collective.timeoutSeconds * 1000,
        bucketBytes: spec.collective.bucketBytes,
        compression: spec.collective.compression,
        signal: g.signal,
        registry: ctx.registry,
      });
      let state = await restore(g.resumeFrom);
      // Every rank must resume from the same step. They read the same bytes, so they agree unless
      // one fell back alone (a part it could not find); then all take the oldest step restored.
      const restored = (await collective.allGather(new TextEncoder().encode(String(state.step)))).map((b) =>
        Number(new TextDecoder().decode(b)),
      );
      const agreed = Math.min(...restored);
      if (restored.some((s) => s !== agreed)) {
        glog.warn("checkpoint_restore_disagreed", { restored, agreed });
        if (state.step !== agreed) state = await restore(g.resumeFrom, agreed);
        // Not a permanent failure: the trainer exits, is restarted, and reads again.
        if (state.step !== agreed)
          throw new Error(`ranks restored steps ${restored.join(", ")}; step ${agreed} is not readable here`);
      }
      const sampler = new ShardedSampler({
        datasetSize: trainSet.length,
        seed: spec.training.seed,
        rank: g.rank,
        worldSize: g.worldSize,
        batchSize: spec.training.batchSize,
        state: state.sampler,
      });
      if (state.step === 0 && spec.training.verifyEvery > 0) await verifyReplicas(collective, state);
      let stopped = false;
      while (state.step < totalSteps && !stopped) {
        stopped = (await step(g, collective, sampler, state)).stop;
        if (spec.training.verifyEvery > 0 && state.step % spec.training.verifyEvery === 0)
          await verifyReplicas(collective, state);
        const atEnd = state.step === totalSteps;
        const evalDue = !atEnd && spec.evaluation.interval > 0 && state.step % spec.evaluation.interval === 0;
        // The table thresholds an evaluation tunes are used by the steps after it, so they are tuned
        // before this step's checkpoint (which must hold them for a resumed run to repeat an
        // uninterrupted one), even when the run stops here and the evaluation itself is skipped.
        const tuned =
          evalDue && tableMode !== "none" ? await tuneTableThresholds(g, collective, state) : undefined;
        if (state.step % spec.checkpoint.interval === 0 || atEnd || stopped) await saveCheckpoint(g, state);
        if (evalDue && !stopped) await runEvaluation(g, collective, state, false, tuned);
      }
      if (stopped) {
        glog.info("stopped", { step: state.step });
        return { status: "stopped", step: state.step };
      }
      await verifyReplicas(collective, state);
      await runEvaluation(g, collective, state, true);
      if (g.rank === 0) {
        const dir = join(ctx.runDir, "adapter");
        await mkdir(dir, { recursive: true });
        await model.saveAdapter(dir);
        // The thresholds the final evaluation tuned travel with the adapter, so inference makes
        // the same tables.
        if (lastThresholds)
          await writeFile(join(dir, THRESHOLDS_FILE), JSON.stringify(lastThresholds, null, 2) + "\n");
        glog.info("final_adapter_written", { dir, findingsThresholds: lastThresholds !== undefined });
      }
      await collective.barrier();
      return { status: "done", step: state.step };
    } catch (err) {
      if (err instanceof TrainingFailure) {
        glog.error("training_failed", { err });
        return { status: "failed", step: lastProgress.step, reason: err.message };
      }
      if (err instanceof CollectiveError || g.signal.aborted) {
        // The generation ended under us (a peer died): rejoin and resume from the last commit.
        metrics.generationRestarts.inc();
        glog.warn("generation_lost", { err });
        continue;
      }
      throw err;
    } finally {
      await collective?.close().catch(() => {});
    }
  }
}

export type { VisionLanguageModel };

// The training recipe, read top to bottom: setup → generations → steps → checkpoint → evaluation.
// Each part is a small unit under recipe/ with its state in named fields or in the RunState passed
// to it:
//   recipe/setup.ts            data splits, model, flat parameters, run length
//   recipe/train-batches.ts    micro-batches of this rank's shard (findings tables in prompt mode)
//   recipe/step.ts             forward/backward, all-reduce, optimizer
//   recipe/progress.ts         step metrics, logs and progress reports
//   recipe/checkpointing.ts    save, prune, restore, agreement on the resume step
//   recipe/evaluation.ts       threshold tuning, distributed evaluation, reports
//   recipe/generation-loop.ts  rendezvous → train until the generation ends → rendezvous again
// Everything random is a pure function of (seed, step, rank), and the optimizer runs on the
// all-reduced bits, so replicas stay identical and a run resumed from a checkpoint repeats an
// uninterrupted run bit for bit.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../common/log.js";
import type { Registry } from "../../common/metrics.js";
import type { RunSpec } from "../../common/spec/index.js";
import type { CheckpointStore } from "../checkpoint/index.js";
import type { Collective, CollectiveListener } from "../collective/index.js";
import { ShardedSampler } from "../data/index.js";
import { THRESHOLDS_FILE } from "../findings/index.js";
import type { Coordination, GenerationInfo } from "./coordination.js";
import type { TrainerMetrics } from "./metrics.js";
import { Checkpointing } from "./recipe/checkpointing.js";
import { Evaluation } from "./recipe/evaluation.js";
import { injectedFaults, type FaultSchedule } from "./recipe/faults.js";
import { runGenerations, type RecipeOutcome } from "./recipe/generation-loop.js";
import { ProgressReporter } from "./recipe/progress.js";
import { verifyReplicas } from "./recipe/replicas.js";
import {
  imageLoader,
  loadRecipeData,
  setupModel,
  type RecipeData,
  type RecipeModel,
} from "./recipe/setup.js";
import { TrainStep } from "./recipe/step.js";
import { TrainBatches } from "./recipe/train-batches.js";

export { TrainingFailure } from "./recipe/failure.js";
export { totalStepsOf } from "./recipe/setup.js";
export type { RecipeOutcome } from "./recipe/generation-loop.js";

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
   * Fault injection for failure tests: at these optimizer steps (0-based) and on this rank, a local
   * gradient is replaced by NaN before the all-reduce, as a real overflow would leave it.
   */
  injectNonFinite?: FaultSchedule;
  /** Fault injection: at these steps on this rank, one parameter is nudged after the update (a silent divergence). */
  injectDivergence?: FaultSchedule;
  /** Called when this process's rank changes (metric labels follow the rank). */
  onRank?: (rank: number, generation: number) => void;
  /** The tensor engine and its threads ("tensorflow 2.21.0, 1 thread"), recorded in checkpoints. */
  engine?: string;
}

/** The units of one run, built once by setup and shared by every generation. */
interface Recipe {
  ctx: RecipeContext;
  data: RecipeData;
  model: RecipeModel;
  step: TrainStep;
  progress: ProgressReporter;
  checkpoints: Checkpointing;
  evaluation: Evaluation;
}

export async function runRecipe(ctx: RecipeContext): Promise<RecipeOutcome> {
  const recipe = await setup(ctx);
  return runGenerations(
    {
      spec: ctx.spec,
      coordination: ctx.coordination,
      listener: ctx.listener,
      registry: ctx.registry,
      progress: recipe.progress,
      metrics: ctx.metrics,
      log: ctx.log,
      onRank: ctx.onRank,
    },
    (g, collective, glog) => trainGeneration(recipe, g, collective, glog),
  );
}

async function setup(ctx: RecipeContext): Promise<Recipe> {
  const { spec, log, metrics } = ctx;
  const data = await loadRecipeData(spec, log);
  const model = await setupModel(spec, data.train, log, metrics);
  const loadImages = imageLoader(spec);
  const progress = new ProgressReporter(ctx.coordination, metrics, log, model.totalSteps);
  const step = new TrainStep({
    spec,
    model: model.model,
    params: model.params,
    batches: new TrainBatches({
      spec,
      train: data.train,
      model: model.model,
      generator: model.generator,
      seqLen: model.seqLen,
      loadImages,
    }),
    totalSteps: model.totalSteps,
    faults: injectedFaults({ nonFinite: ctx.injectNonFinite, divergence: ctx.injectDivergence }),
    stop: ctx.stop,
    metrics,
    log,
  });
  const checkpoints = new Checkpointing({
    spec,
    coordination: ctx.coordination,
    store: ctx.store,
    model: model.model,
    params: model.params,
    initialParams: model.initialParams,
    totalSteps: model.totalSteps,
    engine: ctx.engine,
    metrics,
    log,
  });
  const evaluation = new Evaluation({
    spec,
    runDir: ctx.runDir,
    evaluate: data.evaluate,
    tune: data.tune,
    generator: model.generator,
    loadImages,
    progress,
    metrics,
    log,
  });
  return { ctx, data, model, step, progress, checkpoints, evaluation };
}

/** Resume, train to the end (or a stop), then the final check, evaluation and adapter. */
async function trainGeneration(
  r: Recipe,
  g: GenerationInfo,
  collective: Collective,
  glog: Logger,
): Promise<RecipeOutcome> {
  const { spec } = r.ctx;
  const { params, totalSteps } = r.model;
  const verifyEvery = spec.training.verifyEvery;
  const state = await r.checkpoints.restoreAgreed(g, collective, glog);
  const sampler = new ShardedSampler({
    datasetSize: r.data.train.length,
    seed: spec.training.seed,
    rank: g.rank,
    worldSize: g.worldSize,
    batchSize: spec.training.batchSize,
    state: state.sampler,
  });
  if (state.step === 0 && verifyEvery > 0) await verifyReplicas(collective, params, state.step);
  let stopped = false;
  while (state.step < totalSteps && !stopped) {
    const result = await r.step.run(state, { rank: g.rank, worldSize: g.worldSize, collective, sampler });
    r.progress.stepDone(result, g);
    stopped = result.stop;
    if (verifyEvery > 0 && state.step % verifyEvery === 0)
      await verifyReplicas(collective, params, state.step);
    const atEnd = state.step === totalSteps;
    const evalDue = !atEnd && spec.evaluation.interval > 0 && state.step % spec.evaluation.interval === 0;
    // The table thresholds an evaluation tunes are used by the steps after it, so they are tuned
    // before this step's checkpoint (which must hold them for a resumed run to repeat an
    // uninterrupted one), even when the run stops here and the evaluation itself is skipped.
    const tuned =
      evalDue && r.evaluation.tunesThresholds
        ? await r.evaluation.tuneThresholds(g, collective, state)
        : undefined;
    if (state.step % spec.checkpoint.interval === 0 || atEnd || stopped) await r.checkpoints.save(g, state);
    if (evalDue && !stopped) await r.evaluation.evaluate(g, collective, state, false, tuned);
  }
  if (stopped) {
    glog.info("stopped", { step: state.step });
    return { status: "stopped", step: state.step };
  }
  await verifyReplicas(collective, params, state.step);
  await r.evaluation.evaluate(g, collective, state, true);
  if (g.rank === 0) await writeFinalAdapter(r, glog);
  await collective.barrier();
  return { status: "done", step: state.step };
}

/** The adapter in PEFT format, with the thresholds the final evaluation tuned (so inference makes the same tables). */
async function writeFinalAdapter(r: Recipe, glog: Logger): Promise<void> {
  const dir = join(r.ctx.runDir, "adapter");
  await mkdir(dir, { recursive: true });
  await r.model.model.saveAdapter(dir);
  const thresholds = r.evaluation.lastThresholds;
  if (thresholds) await writeFile(join(dir, THRESHOLDS_FILE), JSON.stringify(thresholds, null, 2) + "\n");
  glog.info("final_adapter_written", { dir, findingsThresholds: thresholds !== undefined });
}

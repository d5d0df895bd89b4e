// The training loop and what it wires together: the recipe (setup, step, checkpointing,
// evaluation, the generation loop; trainer/train/recipe/), the channel to the coordinator,
// batches, losses and flat parameters, report generation with a run's model, and the trainer's
// metrics. trainer/main.ts runs it; `radfleet pretrain` and `radfleet generate` reuse its pieces.
export {
  runRecipe,
  TrainingFailure,
  totalStepsOf,
  type RecipeContext,
  type RecipeOutcome,
} from "./recipe.js";
export type { CheckpointRef, Coordination, GenerationInfo } from "./coordination.js";
export { connectCoordinationThread, CoordinationThreadError } from "./coordination-thread.js";
export { trainerMetrics, type TrainerMetrics } from "./metrics.js";
export { encodeExample, labelTargets, makeBatch, type EncodedExample, type TrainBatch } from "./batch.js";
export { maskedBce, maskedCrossEntropy } from "./losses.js";
export { FlatParams, type ParamSlot } from "./params.js";
export { buildRunModel, modelNeedsCorpus, runModelBase, RunSetupError } from "./run-model.js";
export { ReportGenerator, type GeneratedReport } from "./report-generator.js";
export { TablePrompts, describePrompt } from "./table-prompts.js";
export {
  pretrainBase,
  checklistText,
  checklistVocabulary,
  parseChecklist,
  CHECKLIST_INSTRUCTION,
  measureBaseQuality,
  formatBaseQuality,
  type BaseQuality,
  type PretrainOptions,
  type PretrainResult,
} from "./pretrain.js";

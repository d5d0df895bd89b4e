// Distributed evaluation: findings-table thresholds tuned on validate (every rank computes the same
// numbers from the same gathered head probabilities, so the training prompts stay identical), then
// reports generated for this rank's share of the evaluation split, gathered on rank 0, scored and
// written (eval/<step|final>/), with the headline metrics in Prometheus and the progress report.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../../common/log.js";
import type { RunSpec } from "../../../common/spec/index.js";
import { checkpointKey } from "../../checkpoint/index.js";
import { allGatherJson, type Collective } from "../../collective/index.js";
import type { Example } from "../../data/index.js";
import { evaluate, headline, writeEvalReport } from "../../eval/index.js";
import { THRESHOLDS_FILE, tuneThresholds, type ThresholdsFile } from "../../findings/index.js";
import type { GenerationInfo } from "../coordination.js";
import type { TrainerMetrics } from "../metrics.js";
import type { ReportGenerator } from "../report-generator.js";
import type { ProgressReporter } from "./progress.js";
import { checkHeadProbRows, checkPredictions, type Prediction } from "./gathered.js";
import type { RunState } from "./run-state.js";
import type { ImageLoader } from "./setup.js";

/** A tuning's result: the thresholds file and the head probabilities of the validation reports by id. */
export interface TunedThresholds {
  file: ThresholdsFile;
  probs: Map<string, number[]>;
}

type Shard = Pick<GenerationInfo, "rank" | "worldSize">;

export interface EvaluationOptions {
  spec: Pick<RunSpec, "task" | "evaluation" | "training">;
  runDir: string;
  /** Reports generated and scored. */
  evaluate: Example[];
  /** Reports the table thresholds are tuned on (validate). */
  tune: Example[];
  generator: Pick<ReportGenerator, "headProbs" | "generate">;
  loadImages: ImageLoader;
  progress: Pick<ProgressReporter, "evaluated">;
  metrics: Pick<TrainerMetrics, "evalMetric">;
  log: Logger;
}

export class Evaluation {
  private lastTuned: ThresholdsFile | undefined;

  constructor(private readonly o: EvaluationOptions) {}

  /** Whether this run writes findings tables (and so tunes their thresholds). */
  get tunesThresholds(): boolean {
    return this.o.spec.task.findingsTable !== "none";
  }

  /** The thresholds the latest tuning produced, saved beside the final adapter. */
  get lastThresholds(): ThresholdsFile | undefined {
    return this.lastTuned;
  }

  /**
   * Tunes the table thresholds on the validation reports into `state.thresholds`. With no validation
   * reports every observation keeps the default threshold (recorded as such).
   */
  async tuneThresholds(g: Shard, collective: Collective, state: RunState): Promise<TunedThresholds> {
    const { spec, tune } = this.o;
    const probs = tune.length ? await this.gatherHeadProbs(g, collective, tune) : new Map<string, number[]>();
    const tuned = tuneThresholds(
      tune.map((e) => probs.get(e.id)!),
      tune.map((e) => e.labels),
      spec.evaluation.uncertain,
      { split: "validate", reports: tune.length, step: state.step },
    );
    state.thresholds = tuned.thresholds;
    this.lastTuned = tuned.file;
    return { file: tuned.file, probs };
  }

  /**
   * Evaluates the model at `state`; `final` is the run's last evaluation (eval/final). tunedBefore:
   * thresholds this step already tuned (tuned here otherwise, in table modes).
   */
  async evaluate(
    g: Shard,
    collective: Collective,
    state: RunState,
    final: boolean,
    tunedBefore?: TunedThresholds,
  ): Promise<void> {
    const { spec, runDir, metrics, log } = this.o;
    const tuned =
      tunedBefore ?? (this.tunesThresholds ? await this.tuneThresholds(g, collective, state) : undefined);
    if (this.o.evaluate.length === 0) return;
    const mine = await this.generateShard(g, state, tuned);
    const gathered = await allGatherJson(collective, mine, checkPredictions);
    if (g.rank !== 0) return;
    const all = gathered.flat();
    all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const report = evaluate(all, { uncertain: spec.evaluation.uncertain, seed: spec.training.seed });
    const dir = join(runDir, "eval", final ? "final" : checkpointKey(state.step));
    await writeEvalReport(dir, report);
    await writeFile(join(dir, "predictions.jsonl"), all.map((r) => JSON.stringify(r)).join("\n") + "\n");
    if (tuned) await writeFile(join(dir, THRESHOLDS_FILE), JSON.stringify(tuned.file, null, 2) + "\n");
    const head = headline(report);
    for (const [k, v] of Object.entries(head)) metrics.evalMetric.set({ metric: k }, v);
    this.o.progress.evaluated(head, state.step, final);
    log.info("evaluation_completed", { step: state.step, dir, ...head });
  }

  /** Reports for this rank's share of the evaluation split (every worldSize-th example). */
  private async generateShard(
    g: Shard,
    state: RunState,
    tuned: TunedThresholds | undefined,
  ): Promise<Prediction[]> {
    const { spec, generator, loadImages } = this.o;
    const mine = this.o.evaluate.filter((_, i) => i % g.worldSize === g.rank);
    const records: Prediction[] = [];
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
    return records;
  }

  /** The head's probabilities for examples sharded over the ranks, gathered in id order on every rank. */
  private async gatherHeadProbs(
    g: Shard,
    collective: Collective,
    examples: Example[],
  ): Promise<Map<string, number[]>> {
    const { spec, generator, loadImages } = this.o;
    const mine = examples.filter((_, i) => i % g.worldSize === g.rank);
    const rows: Array<[string, number[]]> = [];
    for (let i = 0; i < mine.length; i += spec.training.batchSize) {
      const chunk = mine.slice(i, i + spec.training.batchSize);
      const probs = generator.headProbs(await loadImages(chunk));
      chunk.forEach((e, j) => rows.push([e.id, probs[j]]));
    }
    return new Map((await allGatherJson(collective, rows, checkHeadProbRows)).flat());
  }
}

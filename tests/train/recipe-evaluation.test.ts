// Evaluation on the recipe's tiny model and synthetic data: thresholds tuned from the gathered head
// probabilities (identical on every rank), and a distributed evaluation that rank 0 scores and
// writes to eval/<step|final>/ with its metrics and progress report.
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunSpec } from "../../common/spec/index.js";
import type { Collective } from "../../trainer/collective/index.js";
import { defaultThresholds, THRESHOLDS_FILE, tuneThresholds } from "../../trainer/findings/index.js";
import type { Progress } from "../../common/progress.js";
import { Evaluation } from "../../trainer/train/recipe/evaluation.js";
import { ProgressReporter } from "../../trainer/train/recipe/progress.js";
import { freshRunState } from "../../trainer/train/recipe/run-state.js";
import {
  localRanks,
  sampleOf,
  useSynthDataset,
  testSpec,
  tinyRecipe,
  type TinyRecipe,
} from "./recipe-fixture.js";

const data = useSynthDataset();

let runs = 0;
function evaluationOf(r: TinyRecipe, runDir: string) {
  const reports: Progress[] = [];
  const progress = new ProgressReporter({ reportProgress: (p) => reports.push(p) }, r.metrics, r.log, 6);
  const evaluation = new Evaluation({
    spec: r.spec,
    runDir,
    evaluate: r.data.evaluate,
    tune: r.data.tune,
    generator: r.model.generator,
    loadImages: r.loadImages,
    progress,
    metrics: r.metrics,
    log: r.log,
  });
  return { evaluation, reports };
}

const tableSpec = (): RunSpec =>
  testSpec(data.dir, { task: { findingsTable: "prompt" }, evaluation: { split: "test" } });

describe("Evaluation", () => {
  it("tunes the table thresholds from the head's probabilities of validate, identical on one rank and on two", async () => {
    const spec = tableSpec();
    const r = await tinyRecipe(spec);
    expect(r.data.tune.length).toBe(4);
    const runDir = join(data.dir, `run-${runs++}`);
    const one = await localRanks(1);
    const two = await localRanks(2);
    try {
      const state = { ...freshRunState(spec.training.seed, r.model.params.size), step: 3 };
      const { evaluation } = evaluationOf(r, runDir);
      expect(evaluation.lastThresholds).toBeUndefined();
      const tuned = await evaluation.tuneThresholds({ rank: 0, worldSize: 1 }, one.collectives[0], state);
      const direct = r.model.generator.headProbs(await r.loadImages(r.data.tune));
      r.data.tune.forEach((e, i) => {
        const got = tuned.probs.get(e.id)!;
        got.forEach((p, k) => expect(p).toBeCloseTo(direct[i][k], 5));
      });
      const expected = tuneThresholds(
        r.data.tune.map((e) => tuned.probs.get(e.id)!),
        r.data.tune.map((e) => e.labels),
        spec.evaluation.uncertain,
        { split: "validate", reports: 4, step: 3 },
      );
      expect(state.thresholds).toEqual(expected.thresholds);
      expect(evaluation.lastThresholds).toEqual(expected.file);
      expect(tuned.file).toEqual(expected.file);

      // Sharded over two ranks and gathered: the same numbers on both, as the training prompts need.
      const states = [0, 1].map(() => ({
        ...freshRunState(spec.training.seed, r.model.params.size),
        step: 3,
      }));
      const both = await Promise.all(
        [0, 1].map((rank) =>
          evaluationOf(r, runDir).evaluation.tuneThresholds(
            { rank, worldSize: 2 },
            two.collectives[rank],
            states[rank],
          ),
        ),
      );
      expect([...both[0].probs.keys()].sort()).toEqual(r.data.tune.map((e) => e.id).sort());
      expect(both[1].probs).toEqual(both[0].probs);
      expect(states[1].thresholds).toEqual(states[0].thresholds);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("on two ranks: rank 0 scores every report in id order and writes them, with metrics and progress", async () => {
    const spec = tableSpec();
    const recipes = [await tinyRecipe(spec), await tinyRecipe(spec)];
    const runDir = join(data.dir, `run-${runs++}`);
    const ranks = await localRanks(2);
    try {
      // At least one evaluation report per rank, so both shards reach rank 0.
      expect(recipes[0].data.evaluate.length).toBeGreaterThanOrEqual(2);
      const evals = recipes.map((r) => evaluationOf(r, runDir));
      const states = recipes.map((r) => ({
        ...freshRunState(spec.training.seed, r.model.params.size),
        step: 6,
      }));
      const run = (final: boolean) =>
        Promise.all(
          evals.map((e, rank) =>
            e.evaluation.evaluate(
              { rank, worldSize: 2 },
              ranks.collectives[rank] as Collective,
              states[rank],
              final,
            ),
          ),
        );
      await run(false);
      const dir = join(runDir, "eval", "step-000000006");
      expect((await readdir(dir)).sort()).toEqual(
        expect.arrayContaining(["findings_thresholds.json", "predictions.jsonl", "report.json", "report.md"]),
      );
      const predictions = (await readFile(join(dir, "predictions.jsonl"), "utf8"))
        .trim()
        .split("\n")
        .map(
          (l) => JSON.parse(l) as { id: string; reference: string; findingsTable?: object; prompt?: string },
        );
      expect(predictions.map((p) => p.id)).toEqual(recipes[0].data.evaluate.map((e) => e.id).sort());
      for (const p of predictions) {
        expect(p.reference).toBe(recipes[0].data.evaluate.find((e) => e.id === p.id)!.report);
        expect(p.findingsTable).toBeDefined();
        expect(p.prompt).toEqual(expect.any(String));
      }
      const thresholds = JSON.parse(await readFile(join(dir, THRESHOLDS_FILE), "utf8")) as unknown;
      expect(thresholds).toEqual(evals[0].evaluation.lastThresholds);
      expect(states[1].thresholds).toEqual(states[0].thresholds);

      const text0 = await recipes[0].registry.metrics();
      expect(sampleOf(text0, 'radfleet_eval_metric{metric="eval_reports"}')).toBe(
        recipes[0].data.evaluate.length,
      );
      expect(await recipes[1].registry.metrics()).not.toMatch(/radfleet_eval_metric\{/);
      expect(evals[0].reports).toEqual([
        expect.objectContaining({ phase: "training", evaluation: expect.any(Object) }),
      ]);
      expect(evals[1].reports).toEqual([]);
      expect(recipes[0].lines.find((l) => l.event === "evaluation_completed")).toMatchObject({
        step: 6,
        dir,
      });

      await run(true);
      expect(existsSync(join(runDir, "eval", "final", "report.json"))).toBe(true);
      expect(evals[0].reports[1]).toMatchObject({ phase: "finished" });
    } finally {
      await ranks.close();
    }
  });

  it("without findings tables nothing is tuned and no thresholds are written", async () => {
    const spec = testSpec(data.dir);
    const r = await tinyRecipe(spec);
    expect(r.data.tune).toEqual([]);
    const runDir = join(data.dir, `run-${runs++}`);
    const ranks = await localRanks(1);
    try {
      const { evaluation } = evaluationOf(r, runDir);
      expect(evaluation.tunesThresholds).toBe(false);
      const state = freshRunState(spec.training.seed, r.model.params.size);
      await evaluation.evaluate({ rank: 0, worldSize: 1 }, ranks.collectives[0], state, true);
      const dir = join(runDir, "eval", "final");
      expect(existsSync(join(dir, "predictions.jsonl"))).toBe(true);
      expect(existsSync(join(dir, THRESHOLDS_FILE))).toBe(false);
      expect(evaluation.lastThresholds).toBeUndefined();
      expect(state.thresholds).toEqual(defaultThresholds());
    } finally {
      await ranks.close();
    }
  });
});

// `radfleet study`: every (cell, seed) run one at a time with the real `radfleet run`, a Ctrl-C
// that stops the study and leaves the current run checkpointed, a second invocation that skips the
// finished runs and resumes the stopped one exactly, and the comparison written as Markdown and JSON.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { StudyResults } from "../../trainer/study/index.js";
import { waitFor } from "../helpers/ports.js";
import { progress, radfleet, synthData, workerLogs, writeSpec } from "./helpers.js";

const STEPS = 24;
let root = "";
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "radfleet-study-"));
  await synthData(join(root, "data"));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const adapterBytes = (runDir: string) => readFile(join(runDir, "adapter", "adapter_model.safetensors"));

it("runs every cell and seed, stops on Ctrl-C, resumes exactly, and compares the cells", async () => {
  await writeSpec(join(root, "base.yaml"), join(root, "data"), ["checkpoint: { interval: 100 }"], STEPS);
  const studyFile = join(root, "study.yaml");
  const studyText = (extra = "") =>
    [
      "apiVersion: radfleet.io/v1alpha1",
      "kind: Study",
      "metadata: { name: e2e }",
      "spec:",
      "  base: base.yaml",
      `  set: { evaluation.maxSamples: 6${extra} }`,
      "  cells:",
      "    single: { task.clsWeight: 0 }",
      "    multi: { task.clsWeight: 0.5 }",
      "  seeds: [1, 2]",
    ].join("\n") + "\n";
  await writeFile(studyFile, studyText());
  const studyDir = join(root, "study");
  const stoppedRun = join(studyDir, "runs", "single", "seed-2");

  // Ctrl-C while the second run trains: the study passes it on once, the run checkpoints and exits.
  const first = radfleet(["study", studyFile, "--study-dir", studyDir]);
  await waitFor(
    "the second run's step 5",
    async () => (await progress(stoppedRun)).some((p) => p.step >= 5),
    200_000,
    50,
  );
  process.kill(first.pid, "SIGINT");
  const stopped = await first.done;
  expect(stopped.code, stopped.out).toBe(130);
  expect(stopped.out).toContain("[1/4] single, seed 1: done in");
  expect(stopped.out).toMatch(/study e2e stopped: 1 of 4 runs finished; runs\/single\/seed-2 resumes/);
  expect(existsSync(join(studyDir, "runs", "single", "seed-1", "study-run.json"))).toBe(true);
  expect(existsSync(join(stoppedRun, "study-run.json"))).toBe(false);
  const stoppedAt = (await progress(stoppedRun)).at(-1)!.step;
  expect(stoppedAt).toBeLessThan(STEPS);
  expect(existsSync(join(studyDir, "runs", "multi"))).toBe(false);

  // The same command: the finished run is skipped, the stopped one resumes from its checkpoint.
  const second = await radfleet(["study", studyFile, "--study-dir", studyDir, "--resamples", "300"]).done;
  expect(second.code, second.out).toBe(0);
  expect(second.out).toContain("[1/4] single, seed 1: finished before, skipped");
  expect(second.out).toContain("[2/4] single, seed 2: resuming");
  expect(second.out).toContain("[4/4] multi, seed 2: done in");
  expect(await workerLogs(stoppedRun)).toMatch(
    new RegExp(`"event":"checkpoint_restored"[^\\n]*"step":${stoppedAt}`),
  );
  // Resumed bit for bit: the same adapter as the same spec run without a stop.
  const clean = join(root, "clean");
  const cleanRun = await radfleet([
    "run",
    join(studyDir, "specs", "single-seed-2.yaml"),
    "--run-dir",
    clean,
    "--quiet",
  ]).done;
  expect(cleanRun.code, cleanRun.out).toBe(0);
  expect((await adapterBytes(stoppedRun)).equals(await adapterBytes(clean))).toBe(true);

  // The comparison: both cells, each over its two seeds, and the difference from the baseline.
  const results = JSON.parse(await readFile(join(studyDir, "results.json"), "utf8")) as StudyResults;
  expect(results.schema).toBe("radfleet.study/v1");
  expect(results.baseline).toBe("single");
  expect(results.seeds).toEqual([1, 2]);
  expect(results.statistics.reports).toBe(6);
  expect(results.statistics.resamples).toBe(300);
  expect(results.statistics.cells.map((c) => [c.cell, c.runs])).toEqual([
    ["single", ["runs/single/seed-1", "runs/single/seed-2"]],
    ["multi", ["runs/multi/seed-1", "runs/multi/seed-2"]],
  ]);
  for (const c of results.statistics.cells) {
    for (const key of [
      "fullyAccurate",
      "hallucination",
      "omission",
      "clinicalF1",
      "rougeL",
      "headMacroAuroc",
    ]) {
      const m = c.metrics[key];
      expect(m.perSeed, `${c.cell} ${key}`).toHaveLength(2);
      expect(m.value, `${c.cell} ${key}`).toBeCloseTo((m.perSeed[0] + m.perSeed[1]) / 2, 10);
    }
  }
  // Each seed's figure is the run's own evaluation.
  const own = JSON.parse(await readFile(join(stoppedRun, "eval", "final", "report.json"), "utf8")) as {
    audit: { fullyAccurate: { value: number } };
    clinical: { micro14: { f1: number } };
  };
  expect(results.statistics.cells[0].metrics.fullyAccurate.perSeed[1]).toBeCloseTo(
    own.audit.fullyAccurate.value,
    10,
  );
  expect(results.statistics.cells[0].metrics.clinicalF1.perSeed[1]).toBeCloseTo(own.clinical.micro14.f1, 10);
  expect(results.statistics.comparisons.filter((c) => c.cell === "multi").map((c) => c.metric)).toContain(
    "fullyAccurate",
  );
  const md = await readFile(join(studyDir, "results.md"), "utf8");
  expect(md).toContain("# Study e2e");
  expect(md).toContain("## Difference from single");
  expect(second.out).toContain(md.trim().split("\n")[0]);

  // --report recomputes the same comparison from the finished runs without running anything.
  const report = await radfleet([
    "study",
    studyFile,
    "--study-dir",
    studyDir,
    "--report",
    "--resamples",
    "300",
    "--json",
  ]).done;
  expect(report.code, report.out).toBe(0);
  const again = JSON.parse(
    report.out.slice(report.out.indexOf("{"), report.out.lastIndexOf("}") + 1),
  ) as StudyResults;
  expect(again.statistics).toEqual(results.statistics);

  // A changed study does not reuse runs made from the old definition.
  await writeFile(studyFile, studyText(", evaluation.uncertain: positive"));
  const changed = await radfleet(["study", studyFile, "--study-dir", studyDir]).done;
  expect(changed.code, changed.out).toBe(2);
  expect(changed.out).toMatch(/runs\/single\/seed-1 was made from another spec than the study now gives/);
}, 600_000);

// The study's comparison on runs whose per-report results are known: identical cells do not differ,
// a real difference is found, the seed level widens the interval, and results are reproducible.
import { describe, expect, it } from "vitest";
import type { LabelVector } from "../../common/chexpert.js";
import {
  alignRuns,
  holm,
  renderStudyMarkdown,
  studyResults,
  studyStatistics,
  type RunResults,
  type StudyPlan,
} from "../../trainer/study/index.js";

const NEG: LabelVector = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/** A run whose first `accurate` of n reports are fully accurate; the head's scores follow `auc`. */
function run(
  dir: string,
  n: number,
  accurate: number,
  opts: { ids?: string[]; headGood?: boolean } = {},
): RunResults {
  const ids = opts.ids ?? Array.from({ length: n }, (_, i) => `r${i}`);
  const target = (i: number): LabelVector => NEG.map((_, l) => (l === 2 ? ((i % 2) as 0 | 1) : 0));
  return {
    dir,
    policy: "negative",
    ids,
    generated: ids.map((id, i) => (i < accurate ? "no acute disease." : `finding ${id}.`)),
    fullyAccurate: ids.map((_, i) => i < accurate),
    hallucinated: ids.map((_, i) => i >= accurate),
    omitted: ids.map(() => false),
    rougeL: ids.map((_, i) => (i < accurate ? 0.5 : 0.1)),
    generatedLabels: ids.map((_, i) => target(i < accurate ? i : i + 1)),
    referenceLabels: ids.map((_, i) => target(i)),
    headProbs: ids.map((_, i) => NEG.map((_, l) => (l === 2 && opts.headGood ? 0.2 + 0.6 * (i % 2) : 0.5))),
    headTargets: ids.map((_, i) => target(i)),
  };
}

describe("studyStatistics", () => {
  it("identical cells: zero difference, p = 1, nothing significant", () => {
    const a = [run("a1", 40, 10), run("a2", 40, 14)];
    const b = [run("b1", 40, 10), run("b2", 40, 14)];
    const s = studyStatistics(
      [
        { cell: "a", runs: a },
        { cell: "b", runs: b },
      ],
      "a",
      { resamples: 400 },
    );
    expect(s.cells[0].metrics.fullyAccurate.value).toBeCloseTo(0.3, 10);
    expect(s.cells[0].metrics.fullyAccurate.perSeed).toEqual([0.25, 0.35]);
    for (const c of s.comparisons) {
      expect(c.difference, c.metric).toBe(0);
      expect(c.significant, c.metric).toBe(false);
    }
    // The table has no head-free or table-free metric NaN turned into a comparison.
    expect(s.comparisons.map((c) => c.metric)).not.toContain("consistentWithTable");
  });

  it("a large, consistent difference is significant, with an interval that excludes zero", () => {
    const s = studyStatistics(
      [
        { cell: "base", runs: [run("a1", 60, 6), run("a2", 60, 9), run("a3", 60, 8)] },
        {
          cell: "better",
          runs: [
            run("b1", 60, 40, { headGood: true }),
            run("b2", 60, 44, { headGood: true }),
            run("b3", 60, 42, { headGood: true }),
          ],
        },
      ],
      "base",
      { resamples: 500 },
    );
    const fa = s.comparisons.find((c) => c.metric === "fullyAccurate")!;
    expect(fa.difference).toBeCloseTo((42 - 23 / 3) / 60, 10);
    expect(fa.ci95[0]).toBeGreaterThan(0);
    expect(fa.significant).toBe(true);
    const h = s.comparisons.find((c) => c.metric === "hallucination")!;
    expect(h.difference).toBeLessThan(0);
    expect(h.ci95[1]).toBeLessThan(0);
    const auroc = s.comparisons.find((c) => c.metric === "headMacroAuroc")!;
    expect(s.cells[1].metrics.headMacroAuroc.value).toBeCloseTo(1, 10);
    expect(auroc.significant).toBe(true);
    for (const c of s.cells)
      for (const [k, e] of Object.entries(c.metrics))
        if (Number.isFinite(e.value)) {
          expect(e.ci95[0], `${c.cell} ${k}`).toBeLessThanOrEqual(e.value + 1e-12);
          expect(e.ci95[1], `${c.cell} ${k}`).toBeGreaterThanOrEqual(e.value - 1e-12);
        }
  });

  it("the interval counts run-to-run variation: seeds that disagree widen it beyond report resampling", () => {
    const steady = studyStatistics([{ cell: "x", runs: [run("s1", 200, 100), run("s2", 200, 100)] }], "x", {
      resamples: 500,
    }).cells[0].metrics.fullyAccurate;
    const unsteady = studyStatistics([{ cell: "x", runs: [run("u1", 200, 20), run("u2", 200, 180)] }], "x", {
      resamples: 500,
    }).cells[0].metrics.fullyAccurate;
    expect(steady.value).toBeCloseTo(0.5, 10);
    expect(unsteady.value).toBeCloseTo(0.5, 10);
    const width = (e: { ci95: [number, number] }) => e.ci95[1] - e.ci95[0];
    expect(width(steady)).toBeLessThan(0.2);
    // With seeds drawn with replacement, a replicate can take the 10% run twice or the 90% run twice.
    expect(unsteady.ci95[0]).toBeLessThan(0.15);
    expect(unsteady.ci95[1]).toBeGreaterThan(0.85);
    expect(width(unsteady)).toBeGreaterThan(3 * width(steady));
  });

  it("is reproducible for a bootstrap seed and changes with it", () => {
    const cells = [
      { cell: "a", runs: [run("a1", 30, 5), run("a2", 30, 9)] },
      { cell: "b", runs: [run("b1", 30, 12), run("b2", 30, 8)] },
    ];
    const one = studyStatistics(cells, "a", { resamples: 300, bootstrapSeed: 1 });
    expect(studyStatistics(cells, "a", { resamples: 300, bootstrapSeed: 1 })).toEqual(one);
    expect(
      studyStatistics(cells, "a", { resamples: 300, bootstrapSeed: 2 }).cells[0].metrics.fullyAccurate.ci95,
    ).not.toEqual(one.cells[0].metrics.fullyAccurate.ci95);
  });

  it("refuses an unknown baseline and a cell without runs", () => {
    expect(() => studyStatistics([{ cell: "a", runs: [run("a", 5, 1)] }], "z")).toThrow(/baseline z/);
    expect(() => studyStatistics([{ cell: "a", runs: [] }], "a")).toThrow(/cell a has no finished run/);
  });
});

describe("holm", () => {
  it("steps down and keeps the order monotone", () => {
    expect(holm([0.01, 0.04, 0.03])).toEqual([0.03, 0.06, 0.06]);
    expect(holm([0.5, 0.001])).toEqual([0.5, 0.002]);
    expect(holm([])).toEqual([]);
  });
});

describe("alignRuns", () => {
  it("puts every run in the first run's report order and refuses runs on other reports", () => {
    const a = run("a", 3, 1, { ids: ["x", "y", "z"] });
    const b = run("b", 3, 1, { ids: ["z", "x", "y"] });
    const [, bb] = alignRuns([a, b]);
    expect(bb.ids).toEqual(["x", "y", "z"]);
    expect(bb.fullyAccurate).toEqual([false, false, true]); // b's "z" was its first, accurate, report
    expect(() => alignRuns([a, run("c", 3, 1, { ids: ["x", "y", "w"] })])).toThrow(
      /^c: evaluated other reports than a .*has w/,
    );
  });
});

describe("renderStudyMarkdown", () => {
  it("shows each cell's means with intervals and each difference from the baseline", () => {
    const s = studyStatistics(
      [
        { cell: "single-task", runs: [run("a1", 20, 4), run("a2", 20, 6)] },
        { cell: "multitask", runs: [run("b1", 20, 15), run("b2", 20, 17)] },
      ],
      "single-task",
      { resamples: 200 },
    );
    const plan: StudyPlan = {
      name: "t",
      base: "base.yaml",
      set: { "data.synthetic.difficulty": "hard" },
      cells: [
        { id: "single-task", overrides: { "task.clsWeight": 0 } },
        { id: "multitask", overrides: { "task.clsWeight": 0.5 } },
      ],
      seeds: [1, 2],
      baseline: "single-task",
      runs: [],
    };
    const md = renderStudyMarkdown(
      studyResults(plan, s, "radfleet study t.yaml", new Date("2026-12-03T10:00:00Z")),
    );
    expect(md).toContain("# Study t");
    expect(md).toContain("2026-12-03, `radfleet study t.yaml`");
    expect(md).toContain("every run: data.synthetic.difficulty=hard");
    expect(md).toMatch(/\| single-task \(baseline\) \| task\.clsWeight=0 /);
    expect(md).toMatch(/\| multitask +\| 80\.0% \[\d+\.\d%, \d+\.\d%\] \|/);
    expect(md).toMatch(/## Difference from single-task/);
    expect(md).toMatch(/\| multitask +\| \+55\.0% \[\+\d+\.\d%, \+\d+\.\d%\] p=[<\d.]+ \* \|/);
    expect(md).not.toContain("consistent with own table");
  });
});

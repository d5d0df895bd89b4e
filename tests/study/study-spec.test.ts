// A study file expands into one validated run spec per (cell, seed); mistakes are reported before
// any run starts, naming the study field or the cell and the spec field.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadStudyFile, planStudy, StudyError } from "../../trainer/study/index.js";

const base = { data: { path: "data/x" }, task: { clsWeight: 0.5 }, training: { steps: 10 } };
const study = (spec: Record<string, unknown>, name = "s") => ({
  apiVersion: "radfleet.io/v1alpha1",
  kind: "Study",
  metadata: { name },
  spec: { base: "b.yaml", ...spec },
});
const issuesOf = (f: () => unknown): string[] => {
  try {
    f();
  } catch (err) {
    if (err instanceof StudyError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error("expected a StudyError");
};

describe("planStudy", () => {
  it("a grid is the cartesian product of its values, each cell run once per seed", () => {
    const plan = planStudy(
      study({
        set: { "data.synthetic.difficulty": "hard" },
        grid: { "task.clsWeight": [0, 0.5], "task.findingsTable": ["none", "output", "prompt"] },
        seeds: [1, 2, 3],
      }),
      base,
    );
    expect(plan.cells.map((c) => c.id)).toEqual([
      "clsWeight-0_findingsTable-none",
      "clsWeight-0_findingsTable-output",
      "clsWeight-0_findingsTable-prompt",
      "clsWeight-0.5_findingsTable-none",
      "clsWeight-0.5_findingsTable-output",
      "clsWeight-0.5_findingsTable-prompt",
    ]);
    expect(plan.baseline).toBe("clsWeight-0_findingsTable-none");
    expect(plan.runs).toHaveLength(18);
    const r = plan.runs.find((x) => x.cell === "clsWeight-0.5_findingsTable-prompt" && x.seed === 2)!;
    expect(r.spec.task.clsWeight).toBe(0.5);
    expect(r.spec.task.findingsTable).toBe("prompt");
    expect(r.spec.training.seed).toBe(2);
    expect(r.spec.training.steps).toBe(10); // from the base
    expect(r.spec.data.path).toBe("data/x");
    expect(r.spec.data.synthetic.difficulty).toBe("hard"); // from set
    expect(r.dir).toBe("runs/clsWeight-0.5_findingsTable-prompt/seed-2");
    expect(r.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(r.name.length).toBeLessThanOrEqual(63);
  });

  it("named cells, a chosen baseline, and a base given as a TrainingRun manifest", () => {
    const plan = planStudy(
      study({
        cells: { "single-task": { "task.clsWeight": 0 }, multitask: {} },
        seeds: [5],
        baseline: "multitask",
      }),
      { apiVersion: "radfleet.io/v1alpha1", kind: "TrainingRun", metadata: { name: "b" }, spec: base },
    );
    expect(plan.cells.map((c) => c.id)).toEqual(["single-task", "multitask"]);
    expect(plan.baseline).toBe("multitask");
    expect(plan.runs.map((r) => [r.cell, r.seed, r.spec.task.clsWeight])).toEqual([
      ["single-task", 5, 0],
      ["multitask", 5, 0.5],
    ]);
  });

  it("the base document is not modified by the cells", () => {
    const b = structuredClone(base);
    planStudy(study({ cells: { a: { "task.clsWeight": 0 }, b: { "training.steps": 3 } } }), b);
    expect(b).toEqual(base);
  });

  it("reports every mistake, naming the field or the cell", () => {
    expect(
      issuesOf(() => planStudy(study({ cells: { a: {} }, grid: { "task.clsWeight": [0] } }), base)),
    ).toContain("spec.grid: give cells or grid, not both");
    expect(issuesOf(() => planStudy(study({}), base))).toContain("spec.cells: expected cells or grid");
    expect(
      issuesOf(() => planStudy(study({ cells: { a: { "training.seed": 3 } } }), base)).join("\n"),
    ).toMatch(/spec\.cells\.a\.training\.seed: the seeds come from spec\.seeds/);
    expect(issuesOf(() => planStudy(study({ cells: { a: {} }, seeds: [1, 1] }), base)).join("\n")).toMatch(
      /spec\.seeds: expected a list of distinct non-negative integers/,
    );
    expect(issuesOf(() => planStudy(study({ cells: { a: {} }, baseline: "b" }), base)).join("\n")).toMatch(
      /spec\.baseline: expected one of the cells \(a\), got "b"/,
    );
    expect(issuesOf(() => planStudy(study({ grid: { "task.clsWeight": 0 } }), base)).join("\n")).toMatch(
      /spec\.grid\.task\.clsWeight: expected a non-empty list/,
    );
    expect(issuesOf(() => planStudy(study({ cells: { a: {} }, seed: [1] }), base)).join("\n")).toMatch(
      /spec\.seed: unknown field/,
    );
    expect(issuesOf(() => planStudy(study({ cells: { a: {} } }, "Bad_Name"), base)).join("\n")).toMatch(
      /metadata\.name: expected a DNS label/,
    );
    // A value the run spec rejects: the cell and the spec field.
    const bad = issuesOf(() =>
      planStudy(
        study({ cells: { ok: {}, neg: { "task.clsWeight": -1, "task.findingsTable": "maybe" } } }),
        base,
      ),
    ).join("\n");
    expect(bad).toMatch(/cell neg: spec\.task\.clsWeight: /);
    expect(bad).toMatch(/cell neg: spec\.task\.findingsTable: /);
    expect(bad).not.toMatch(/cell ok/);
  });
});

describe("loadStudyFile", () => {
  it("reads the base spec relative to the study file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-study-spec-"));
    await writeFile(join(dir, "b.yaml"), "task: { clsWeight: 0.25 }\n");
    await writeFile(
      join(dir, "s.yaml"),
      "kind: Study\nmetadata: { name: t }\nspec:\n  base: b.yaml\n  grid: { training.steps: [1, 2] }\n",
    );
    const plan = await loadStudyFile(join(dir, "s.yaml"));
    expect(
      plan.runs.map((r) => [r.spec.training.steps, r.spec.task.clsWeight, r.spec.training.seed]),
    ).toEqual([
      [1, 0.25, 1],
      [2, 0.25, 1],
    ]);
    await writeFile(join(dir, "s2.yaml"), "kind: Study\nspec: { base: missing.yaml, cells: { a: {} } }\n");
    await expect(loadStudyFile(join(dir, "s2.yaml"))).rejects.toThrow(
      /cannot read base spec .*missing\.yaml: ENOENT/,
    );
  });
});

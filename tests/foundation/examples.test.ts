import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRunSpecFile } from "../../common/spec/index.js";
import { loadStudyFile } from "../../trainer/study/index.js";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : p.endsWith(".yaml") ? [p] : [];
  });
}

describe("shipped example specs", () => {
  const files = yamlFiles("examples").filter((f) => !f.startsWith(join("examples", "study")));
  it("exist", () => expect(files.length).toBeGreaterThanOrEqual(6));
  it.each(files)("%s is a valid TrainingRun", async (file) => {
    const { name, spec } = await loadRunSpecFile(file);
    expect(name).toMatch(/^[a-z0-9-]+$/);
    expect(spec.model.preset).toBe("tiny");
  });
  it.each(yamlFiles(join("examples", "study")))("%s is a valid study of the tiny base", async (file) => {
    const plan = await loadStudyFile(file);
    expect(plan.runs.length).toBe(plan.cells.length * plan.seeds.length);
    for (const r of plan.runs) expect(r.spec.model.preset).toBe("tiny");
  });
  it("the thesis study: single-task vs multitask and the three table modes on the hard set, 3+ seeds", async () => {
    const plan = await loadStudyFile("examples/study/thesis-hard.yaml");
    expect(plan.seeds.length).toBeGreaterThanOrEqual(3);
    const cell = (id: string) => plan.runs.find((r) => r.cell === id)!.spec;
    expect(cell("single-task").task.clsWeight).toBe(0);
    for (const [id, mode] of [
      ["multitask", "none"],
      ["table-output", "output"],
      ["table-prompt", "prompt"],
    ] as const) {
      expect(cell(id).task.clsWeight).toBeGreaterThan(0);
      expect(cell(id).task.findingsTable).toBe(mode);
    }
    for (const r of plan.runs) {
      expect(r.spec.data.synthetic.difficulty).toBe("hard");
      expect(r.spec.evaluation.split).toBe("test");
    }
  });
  it("the ablation pair differs only in task.clsWeight", async () => {
    const a = (await loadRunSpecFile("examples/ablation/multitask.yaml")).spec;
    const b = (await loadRunSpecFile("examples/ablation/single-task.yaml")).spec;
    expect({ ...a, task: { ...a.task, clsWeight: 0 } }).toEqual(b);
    expect(a.task.clsWeight).toBeGreaterThan(0);
  });
  it("the findings-table specs differ only in task.findingsTable", async () => {
    const modes = ["none", "output", "prompt"] as const;
    const specs = await Promise.all(modes.map((m) => loadRunSpecFile(`examples/findings-table/${m}.yaml`)));
    specs.forEach((s, i) => expect(s.spec.task.findingsTable).toBe(modes[i]));
    const same = specs.map((s) => ({ ...s.spec, task: { ...s.spec.task, findingsTable: "none" } }));
    expect(same[1]).toEqual(same[0]);
    expect(same[2]).toEqual(same[0]);
  });
});

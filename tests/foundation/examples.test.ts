import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRunSpecFile } from "../../common/spec/index.js";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : p.endsWith(".yaml") ? [p] : [];
  });
}

describe("shipped example specs", () => {
  const files = yamlFiles("examples");
  it("exist", () => expect(files.length).toBeGreaterThanOrEqual(6));
  it.each(files)("%s is a valid TrainingRun", async (file) => {
    const { name, spec } = await loadRunSpecFile(file);
    expect(name).toMatch(/^[a-z0-9-]+$/);
    expect(spec.model.preset).toBe("tiny");
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

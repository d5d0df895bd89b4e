// The README's first command, `radfleet run` without a spec, shortened to 3 steps: in an empty
// directory it generates the synthetic data set, fine-tunes the shipped tiny base loaded in NF4
// with two workers, evaluates on the validation split and writes the adapter.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { TINY_BASE_DIR } from "../../trainer/model/index.js";
import { progress, radfleet, workerLogs } from "./helpers.js";

let cwd = "";
afterAll(async () => {
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

test("radfleet run with no spec: synthetic data, the shipped base in NF4, two workers, evaluation, adapter", async () => {
  cwd = await mkdtemp(path.join(tmpdir(), "radfleet-demo-"));
  const runDir = path.join(cwd, "run");
  const { code, out } = await radfleet(
    ["run", "--steps", "3", "--run-dir", runDir, "--quiet"],
    {},
    240_000,
    cwd,
  ).done;
  expect(code, out).toBe(0);

  expect(out).toMatch(/wrote 800 studies to data\/synthetic/);
  expect(existsSync(path.join(cwd, "data", "synthetic", "mimic-cxr-2.0.0-chexpert.csv"))).toBe(true);
  // The summary names the engine: tensorflow where its binding is built (the suite's first pass),
  // wasm where the suite's second pass asks for it; each of the two trainers gets one of 2 cores.
  const engine =
    process.env.RADFLEET_BACKEND === "wasm"
      ? /wasm \(4\.\d+\.\d+, 1 thread per worker\)/
      : /tensorflow \(libtensorflow 2\.21\.0, \d+ threads? per worker\)/;
  expect(out).toMatch(new RegExp(`run demo finished: 3 steps on ${engine.source}, 0 worker restart\\(s\\)`));
  expect(out).toMatch(/Evaluation on 64 validation reports/);
  // Every figure the demo's targets are stated in (issue #15) is in the summary.
  for (const metric of [
    "ROUGE-L F (rouge-score)",
    "clinical F1 micro-14 (uncertain negative)",
    "fully accurate",
    "hallucination",
    "omission",
    "head macro F1",
  ])
    expect(out).toContain(metric);
  expect(out).toMatch(/head macro AUROC\s+\d\.\d{4}/);
  expect(out).toMatch(/distinct reports\s+\d+ of 64 \(\d+%\)/);
  expect(out).toMatch(/reports repeating a sentence\s+\d+ of 64 \(references: \d+\)/);

  const logs = await workerLogs(runDir);
  const ready = logs
    .split("\n")
    .filter((l) => l.includes('"event":"model_ready"'))
    .map((l) => JSON.parse(l) as { base: string; nf4Layers: number });
  expect(ready).toHaveLength(2);
  const selected = logs
    .split("\n")
    .filter((l) => l.includes('"event":"backend_selected"'))
    .map((l) => JSON.parse(l) as { backend: string; threads: number; threadSource: string });
  expect(selected).toHaveLength(2);
  for (const b of selected) {
    expect(b.backend).toBe(process.env.RADFLEET_BACKEND || "tensorflow");
    // The launcher splits the machine's cores between the two trainers.
    if (b.backend === "tensorflow")
      expect(b).toMatchObject({
        threads: Math.max(1, Math.floor(availableParallelism() / 2)),
        threadSource: "RADFLEET_CPU_LIMIT",
      });
  }
  for (const r of ready) {
    expect(r.base).toBe(TINY_BASE_DIR);
    expect(r.nf4Layers).toBeGreaterThan(0);
  }
  expect((await progress(runDir)).map((p) => p.step)).toEqual([1, 2, 3]);
  expect(await readdir(path.join(runDir, "adapter"))).toEqual(
    expect.arrayContaining(["adapter_config.json", "adapter_model.safetensors"]),
  );
  const report = JSON.parse(await readFile(path.join(runDir, "eval", "final", "report.json"), "utf8")) as {
    count: number;
  };
  expect(report.count).toBe(64);
}, 240_000);

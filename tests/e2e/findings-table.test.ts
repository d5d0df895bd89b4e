// The three findings-table modes end to end: each trains and evaluates with two real trainers; the
// predictions carry the head's tables (output, prompt) and the prompts the model received (prompt);
// thresholds are tuned on validate, saved with the adapter and kept in checkpoints (a SIGKILLed
// prompt-mode run still ends bit-identical); `radfleet compare` puts the three side by side.
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { renderTableText, type FindingsTable } from "../../trainer/findings/index.js";
import { pretokenize } from "../../trainer/model/tokenizer.js";
import { waitFor } from "../helpers/ports.js";
import { progress, radfleet, synthData, workerLogs, writeSpec } from "./helpers.js";

type Prediction = { id: string; generated: string; findingsTable?: FindingsTable; prompt?: string };

let root: string;
let data: string;
const runDir = (mode: string) => join(root, `table-${mode}`);

async function specFor(mode: string): Promise<string> {
  const path = join(root, `${mode}.yaml`);
  await writeSpec(
    path,
    data,
    [
      `task: { clsWeight: 0.5, findingsTable: ${mode}, tableTeacherForcing: 0.5 }`,
      // An evaluation mid-run tunes the thresholds the later prompts use; the final one scores the
      // test split with thresholds tuned on validate.
      "evaluation: { interval: 6, split: test, maxSamples: 4, generation: { maxNewTokens: 12 } }",
      "checkpoint: { interval: 4 }",
    ],
    12,
  );
  return path;
}

/** The synthetic layout's image of a study: files/pXX/p<subject>/<study id>/<dicom>.jpg. */
async function imageOf(studyId: string): Promise<string> {
  const files = (await readdir(join(data, "files"), { recursive: true })) as string[];
  const hit = files.find((f) => f.split("/").at(-2) === studyId && f.endsWith(".jpg"));
  if (!hit) throw new Error(`no image for ${studyId}`);
  return join(data, "files", hit);
}

async function predictions(dir: string): Promise<Prediction[]> {
  return (await readFile(join(dir, "eval", "final", "predictions.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Prediction);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "radfleet-table-"));
  data = join(root, "data");
  await synthData(data);
}, 120_000);

describe("task.findingsTable", () => {
  for (const mode of ["none", "output", "prompt"]) {
    it(`${mode}: trains and evaluates end to end`, async () => {
      const r = await radfleet(["run", await specFor(mode), "--run-dir", runDir(mode), "--quiet"]).done;
      expect(r.code, r.out).toBe(0);
      expect((await progress(runDir(mode))).at(-1)!.step).toBe(12);
      const report = JSON.parse(await readFile(join(runDir(mode), "eval", "final", "report.json"), "utf8"));
      const preds = await predictions(runDir(mode));
      expect(preds).toHaveLength(4);
      const thresholds = join(runDir(mode), "adapter", "findings_thresholds.json");
      if (mode === "none") {
        expect(preds.every((p) => p.findingsTable === undefined && p.prompt === undefined)).toBe(true);
        expect(report.selfConsistency).toBeUndefined();
        expect(existsSync(thresholds)).toBe(false);
        return;
      }
      // The head's table beside each report, and the report scored against it.
      for (const p of preds) {
        expect(p.findingsTable!.source).toBe("head");
        expect(p.findingsTable!.rows).toHaveLength(14);
      }
      expect(report.selfConsistency.consistent.value).toBeGreaterThanOrEqual(0);
      expect(report.reports[0].selfConsistency).toBeDefined();
      expect(r.out).toMatch(/consistent with own table/);
      // Tuned on validate at the final step, saved with the adapter and beside the evaluation.
      const saved = JSON.parse(await readFile(thresholds, "utf8"));
      expect(saved.tunedOn).toEqual({ split: "validate", reports: 4, step: 12 });
      expect(Object.keys(saved.thresholds)).toHaveLength(14);
      expect(await readFile(join(runDir(mode), "eval", "final", "findings_thresholds.json"), "utf8")).toBe(
        await readFile(thresholds, "utf8"),
      );
      const logs = await workerLogs(runDir(mode));
      expect(logs).not.toMatch(/findings_table_unknown_words/);
      if (mode === "output") {
        expect(preds.every((p) => p.prompt === undefined)).toBe(true);
        return;
      }
      // prompt: the model was asked with its own table, between the markers, after the image.
      for (const p of preds) {
        expect(p.prompt).toMatch(/^<bos> <image>×\d+ /);
        expect(p.prompt).toContain(`<table> ${renderTableText(p.findingsTable!)} </table>`);
      }
    }, 300_000);
  }

  it("prompt: a SIGKILLed trainer is replaced and the run ends with the same adapter", async () => {
    const dir = join(root, "prompt-killed");
    const run = radfleet(["run", await specFor("prompt"), "--run-dir", dir, "--quiet"]);
    // Past the evaluation at step 6 (thresholds tuned) and the checkpoint at step 8 that holds them.
    await waitFor("step 9", async () => (await progress(dir)).some((x) => x.step >= 9), 200_000, 100);
    const pid = Number((await readFile(join(dir, "logs", "worker-1.pid"), "utf8")).trim());
    process.kill(pid, "SIGKILL");
    const r = await run.done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/1 worker restart/);
    const clean = await readFile(join(runDir("prompt"), "adapter", "adapter_model.safetensors"));
    expect((await readFile(join(dir, "adapter", "adapter_model.safetensors"))).equals(clean)).toBe(true);
    expect(await readFile(join(dir, "adapter", "findings_thresholds.json"), "utf8")).toBe(
      await readFile(join(runDir("prompt"), "adapter", "findings_thresholds.json"), "utf8"),
    );
  }, 300_000);

  it("prompt: a run stopped with Ctrl-C on an evaluation step and started again ends bit-identical", async () => {
    // Every step evaluates (so the stop lands on an evaluation step) and every table comes from the
    // head, so the thresholds tuned at the stop decide the prompts of the steps after it.
    const spec = join(root, "prompt-stop.yaml");
    await writeSpec(
      spec,
      data,
      [
        "task: { clsWeight: 0.5, findingsTable: prompt, tableTeacherForcing: 0 }",
        "evaluation: { interval: 1, split: test, maxSamples: 4, generation: { maxNewTokens: 4 } }",
        "checkpoint: { interval: 100 }",
      ],
      10,
    );
    const clean = join(root, "prompt-stop-clean");
    const c = await radfleet(["run", spec, "--name", "stop-clean", "--run-dir", clean, "--quiet"]).done;
    expect(c.code, c.out).toBe(0);
    const dir = join(root, "prompt-stop");
    const first = radfleet(["run", spec, "--name", "stop", "--run-dir", dir, "--quiet"]);
    await waitFor("step 4", async () => (await progress(dir)).some((x) => x.step >= 4), 200_000, 50);
    process.kill(first.pid, "SIGINT");
    expect((await first.done).code).toBe(130);
    const stoppedAt = (await progress(dir)).at(-1)!.step;
    expect(stoppedAt).toBeLessThan(10);
    // The stop's checkpoint holds the thresholds tuned at that step, as the uninterrupted run's
    // evaluation of the same step tuned them (not those of the step before).
    const key = `step-${String(stoppedAt).padStart(9, "0")}`;
    const saved = JSON.parse(await readFile(join(dir, "checkpoints", key, "trainer_state.json"), "utf8")) as {
      findingsThresholds: number[];
    };
    const tunedThere = JSON.parse(
      await readFile(join(clean, "eval", key, "findings_thresholds.json"), "utf8"),
    ) as {
      thresholds: Record<string, number>;
    };
    expect(saved.findingsThresholds).toEqual(Object.values(tunedThere.thresholds));
    // No NATS: the run state is in the run directory.
    const second = await radfleet(["run", spec, "--name", "stop", "--run-dir", dir, "--quiet"]).done;
    expect(second.code, second.out).toBe(0);
    expect(await workerLogs(dir)).toMatch(
      new RegExp(`"event":"checkpoint_restored"[^\\n]*"step":${stoppedAt}`),
    );
    expect(
      (await readFile(join(dir, "adapter", "adapter_model.safetensors"))).equals(
        await readFile(join(clean, "adapter", "adapter_model.safetensors")),
      ),
    ).toBe(true);
  }, 300_000);

  it("radfleet generate writes, for a test image, the table and report the evaluation wrote", async () => {
    const [first] = await predictions(runDir("prompt"));
    const image = await imageOf(first.id);
    const r = await radfleet(["generate", runDir("prompt"), image, "--max-new-tokens", "12", "--json"]).done;
    expect(r.code, r.out).toBe(0);
    const out = JSON.parse(r.out.trim().split("\n").at(-1)!) as {
      image: string;
      report: string;
      findingsTable: FindingsTable;
      findingsTableText: string;
    };
    expect(out.image).toBe(image);
    expect(out.findingsTable.rows.map((x) => x.state)).toEqual(first.findingsTable!.rows.map((x) => x.state));
    expect(out.findingsTableText).toBe(renderTableText(first.findingsTable!));
    expect(out.report).toBe(first.generated);
    // The decoding flags reach the decoder: with min_new_tokens 6 the report has words even where
    // the model would end at once, and with no_repeat_ngram_size 1 no word comes twice.
    const once = await radfleet([
      "generate",
      runDir("prompt"),
      image,
      "--max-new-tokens",
      "24",
      "--min-new-tokens",
      "6",
      "--no-repeat-ngram-size",
      "1",
      "--json",
    ]).done;
    expect(once.code, once.out).toBe(0);
    const words = pretokenize((JSON.parse(once.out.trim().split("\n").at(-1)!) as { report: string }).report);
    expect(words.length).toBeGreaterThan(0);
    expect(new Set(words).size, words.join(" ")).toBe(words.length);
    // Without the saved thresholds a table cannot be made the way the run made it: refused, named.
    const bare = join(root, "bare-adapter");
    await cp(join(runDir("prompt"), "adapter"), bare, { recursive: true });
    await rm(join(bare, "findings_thresholds.json"));
    const refused = await radfleet(["generate", runDir("prompt"), image, "--adapter", bare]).done;
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/bare-adapter\/findings_thresholds\.json is missing/);
  }, 120_000);

  it("radfleet compare shows the three modes side by side with intervals and self-consistency", async () => {
    const r = await radfleet(["compare", runDir("none"), runDir("output"), runDir("prompt")]).done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/\| task\.findingsTable\s+\| "none"\s+\| "output"\s+\| "prompt"\s+\|/);
    for (const row of [
      /\| ROUGE-L F \(rouge-score\) \[95% CI\]\s+\| \d\.\d{4} \[/,
      /\| clinical F1 micro-14 .*\[95% CI\]\s+\| \d\.\d{4} \[/,
      /\| fully accurate \[95% CI\]\s+\| [\d.]+% \[/,
      /\| consistent with own table \[95% CI\]\s+\| — \(no table\)\s+\| [\d.]+% \[[\d.]+%, [\d.]+%\]\s+\| [\d.]+% \[/,
    ]) {
      expect(r.out).toMatch(row);
    }
    const json = JSON.parse(
      (await radfleet(["compare", runDir("none"), runDir("prompt"), "--json"]).done).out,
    ) as { metrics: string[][] };
    expect(json.metrics.find((m) => m[0].startsWith("contradicts own table"))).toHaveLength(3);
  }, 60_000);
});

// The eval, label and bench CLI modules on real files in a temporary directory.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import { run as runEval } from "../../cli/commands/eval.js";
import { run as runLabel } from "../../cli/commands/label.js";
import { parseCsv } from "../../trainer/eval/eval-inputs.js";
import { syntheticReports } from "./synthetic-reports.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "radfleet-eval-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function quiet(): () => string {
  const out: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  const err = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  // Usage and flag errors go straight to the streams (common/cli.ts).
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((s) => (out.push(String(s)), true));
  return () => {
    log.mockRestore();
    err.mockRestore();
    stdout.mockRestore();
    stderr.mockRestore();
    return out.join("\n");
  };
}

describe("radfleet eval", () => {
  it("writes report.json, report.md and SVG plots; self-evaluation is perfect", async () => {
    const reps = syntheticReports(40, 3);
    const pred = join(dir, "preds.jsonl");
    const ref = join(dir, "refs.jsonl");
    const probs = (i: number): number[] => CHEXPERT_LABELS.map((_, k) => ((i * 7 + k * 3) % 10) / 10);
    await writeFile(
      pred,
      reps.map((r, i) => JSON.stringify({ id: r.id, generated: r.text, headProbs: probs(i) })).join("\n") +
        "\nnot json\n",
    );
    await writeFile(ref, reps.map((r) => JSON.stringify({ id: r.id, reference: r.text })).join("\n") + "\n");
    const out = join(dir, "out");
    const done = quiet();
    const code = await runEval([
      "--pred",
      pred,
      "--ref",
      ref,
      "--out",
      out,
      "--uncertain",
      "negative",
      "--bootstrap",
      "100",
    ]);
    const printed = done();
    expect(code, printed).toBe(0);
    expect(printed).toMatch(/skipped .*preds\.jsonl:41/);
    const report = JSON.parse(await readFile(join(out, "report.json"), "utf8")) as {
      headline: Record<string, number>;
      uncertainPolicy: string;
      variants: Record<string, string>;
      head?: { macroF1: number };
    };
    expect(report.uncertainPolicy).toBe("negative");
    expect(report.headline.clinical_f1_micro_14).toBe(1);
    expect(report.headline.fully_accurate_rate).toBe(1);
    expect(report.headline.rougeL_rouge_score_f).toBeCloseTo(1, 12);
    expect(report.headline.head_macro_f1).toBeGreaterThanOrEqual(0);
    expect(Object.keys(report.variants)).toEqual(
      expect.arrayContaining(["rougeL_rouge_score", "rougeL_coco", "bleu_coco"]),
    );
    const md = await readFile(join(out, "report.md"), "utf8");
    expect(md).toContain("rougeLsum_rouge_score");
    expect(md).toContain("bleu4_coco");
    expect(md).toContain("uncertain labels counted as **negative**");
    for (const f of ["per-label-f1.svg", "confusion-by-observation.svg", "head-per-label.svg"]) {
      const svg = await readFile(join(out, f), "utf8");
      expect(svg.startsWith("<svg"), f).toBe(true);
      expect(svg).toContain("Pleural Effusion");
    }
  });

  it("refuses bad flags with usage and exit code 2", async () => {
    const done = quiet();
    expect(await runEval(["--pred", "a.jsonl"])).toBe(2);
    expect(await runEval(["--pred", "a", "--ref", "b", "--uncertain", "maybe"])).toBe(2);
    const text = done();
    expect(text).toMatch(/--pred and --ref are required\nusage: radfleet eval/);
    expect(text).toMatch(/--uncertain: expected one of positive, negative, got "maybe"/);
  });
});

describe("radfleet label", () => {
  it("labels a CSV with quoted reports into the CheXpert output layout", async () => {
    const input = join(dir, "reports.csv");
    await writeFile(
      input,
      'id,report\n1,"Mild cardiomegaly, no effusion."\n2,"Lungs are clear. No pneumothorax."\n3,"Possible ""early"" pneumonia.\nNo effusion."\n',
    );
    const out = join(dir, "labels.csv");
    const done = quiet();
    expect(await runLabel(["--in", input, "--out", out])).toBe(0);
    done();
    const rows = parseCsv(await readFile(out, "utf8"));
    expect(rows[0]).toEqual(["id", "Reports", ...CHEXPERT_LABELS]);
    const col = (l: string): number => rows[0].indexOf(l);
    expect(rows).toHaveLength(4);
    expect(rows[1][col("Cardiomegaly")]).toBe("1");
    expect(rows[1][col("Pleural Effusion")]).toBe("0");
    expect(rows[2][col("No Finding")]).toBe("1");
    expect(rows[2][col("Cardiomegaly")]).toBe("");
    expect(rows[3][col("Pneumonia")]).toBe("-1");
    expect(rows[3][1]).toBe('Possible "early" pneumonia.\nNo effusion.');
  });

  it("labels JSONL", async () => {
    const input = join(dir, "reports.jsonl");
    await writeFile(input, JSON.stringify({ id: "a", report: "Small left pneumothorax." }) + "\n");
    const out = join(dir, "labels-jsonl.csv");
    const done = quiet();
    expect(await runLabel(["--in", input, "--out", out])).toBe(0);
    done();
    const rows = parseCsv(await readFile(out, "utf8"));
    expect(rows[1][rows[0].indexOf("Pneumothorax")]).toBe("1");
  });
});

import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset, loadImage, synthesize, DataError, type Dataset } from "../../trainer/data/index.js";
import { run as checkCli } from "../../cli/commands/data-check.js";

let root: string;
let clean: Dataset;

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await fn(), out: chunks.join("") };
  } finally {
    process.stdout.write = write;
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "radfleet-data-corrupt-"));
  await synthesize({ out: root, studies: 30, seed: 7, difficulty: "hard", imageSize: 32 });
  clean = await loadDataset({ format: "synthetic", root, section: "both" });
  const ex = clean.examples;
  // Two truncated JPEGs, one deleted image, one empty report.
  for (const e of ex.slice(0, 2))
    truncateSync(e.imagePath as string, Math.floor(statSync(e.imagePath as string).size / 2));
  unlinkSync(ex[2].imagePath as string);
  writeFileSync(
    join(root, "files", `p${ex[3].subjectId.slice(0, 2)}`, `p${ex[3].subjectId}`, `s${ex[3].studyId}.txt`),
    "  \n",
  );
  // Junk CSV rows: a short row and a non-numeric id in the labels, a bad split value, and a labelled
  // study that the split file does not list.
  appendFileSync(join(root, "mimic-cxr-2.0.0-chexpert.csv"), "garbage,row\n");
  appendFileSync(join(root, "mimic-cxr-2.0.0-chexpert.csv"), `abc,123${",".repeat(14)}\n`);
  appendFileSync(join(root, "mimic-cxr-2.0.0-chexpert.csv"), `19999999,59999999,1.0${",".repeat(13)}\n`);
  appendFileSync(join(root, "mimic-cxr-2.0.0-split.csv"), "x,1,2,holdout\n");
  // A study listed in the split with no labels row.
  appendFileSync(join(root, "mimic-cxr-2.0.0-split.csv"), "d-1,58888888,18888888,train\n");
  // A study in the split whose labels row has a value that is not a label: malformed, counted once.
  appendFileSync(join(root, "mimic-cxr-2.0.0-split.csv"), "d-2,57777777,17777777,train\n");
  appendFileSync(join(root, "mimic-cxr-2.0.0-chexpert.csv"), `17777777,57777777,maybe${",".repeat(13)}\n`);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a corrupted synthetic copy", () => {
  it("loads with every bad study skipped and counted by reason", async () => {
    const ds = await loadDataset({ format: "synthetic", root, section: "both", verifyImages: true });
    expect(ds.skipped).toEqual({
      corrupt_image: 2,
      missing_image: 1,
      empty_report: 1,
      malformed_row: 4,
      not_in_split: 1,
      no_labels: 1,
    });
    expect(ds.examples.length).toBe(30 - 4);
    const byReason = (r: string) => ds.skippedIds.filter((s) => s.reason === r).map((s) => s.id);
    expect(byReason("corrupt_image").sort()).toEqual([clean.examples[0].id, clean.examples[1].id].sort());
    expect(byReason("missing_image")).toEqual([clean.examples[2].id]);
    expect(byReason("empty_report")).toEqual([clean.examples[3].id]);
    expect(byReason("not_in_split")).toEqual(["s59999999"]);
    expect(byReason("no_labels")).toEqual(["s58888888"]);
    // Skipped rows are named by their line in the file, counting the malformed lines before them.
    const lines = readFileSync(join(root, "mimic-cxr-2.0.0-chexpert.csv"), "utf8").split("\n");
    const lineOf = (prefix: string) =>
      `mimic-cxr-2.0.0-chexpert:${lines.findIndex((l) => l.startsWith(prefix)) + 1}`;
    expect(byReason("malformed_row")).toEqual(
      expect.arrayContaining([lineOf("garbage,row"), lineOf("abc,123"), lineOf("17777777,57777777")]),
    );
  });

  it("without verification, a truncated image fails only when decoded, with a DataError naming the file", async () => {
    const ds = await loadDataset({ format: "synthetic", root, section: "both" });
    expect(ds.skipped.corrupt_image).toBeUndefined();
    const bad = clean.examples[0].imagePath as string;
    const err = await loadImage(bad, { size: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).message).toContain(bad);
  });

  it("radfleet data check prints the counts by reason, the splits and the prevalence", async () => {
    const { code, out } = await capture(() => checkCli([root, "--format", "synthetic"]));
    expect(code).toBe(0);
    expect(out).toMatch(/26 studies loaded/);
    expect(out).toMatch(/corrupt_image 2/);
    expect(out).toMatch(/missing_image 1/);
    expect(out).toMatch(/malformed_row 4/);
    expect(out).toMatch(/per split: train \d+, validate \d+, test \d+/);
    expect(out).toMatch(/Pleural Effusion\s+\d+/);
    const j = await capture(() => checkCli([root, "--format", "synthetic", "--json"]));
    const s = JSON.parse(j.out) as { studies: number; skipped: Record<string, number> };
    expect(s.studies).toBe(26);
    expect(s.skipped.not_in_split).toBe(1);
  });

  it("radfleet data check on a wrong directory is one clear error and exit code 1", async () => {
    const errs: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((c: string | Uint8Array) => {
      errs.push(String(c));
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(await checkCli([join(root, "files")])).toBe(1);
      expect(await checkCli([])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errs[0]).toMatch(/not a MIMIC-CXR-JPG root/);
    expect(readFileSync(join(root, "mimic-cxr-2.0.0-split.csv"), "utf8")).toContain("holdout");
  });
});

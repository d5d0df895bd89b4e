import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, labelIndex } from "../../common/chexpert.js";
import { DataError, loadDataset, synthesize } from "../../trainer/data/index.js";

const IU_ROOT = new URL("../fixtures/iu-xray", import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "radfleet-data-readers-"));
  await synthesize({ out: join(dir, "a"), studies: 60, seed: 42, difficulty: "easy", imageSize: 32 });
  await synthesize({
    out: join(dir, "b"),
    studies: 60,
    seed: 42,
    difficulty: "easy",
    imageSize: 32,
    gzip: true,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("synthetic / MIMIC-CXR-JPG reader", () => {
  it("loads every generated study with its image, sections and 14 labels", async () => {
    const ds = await loadDataset({
      format: "synthetic",
      root: join(dir, "a"),
      section: "both",
      verifyImages: true,
    });
    expect(ds.examples.length).toBe(60);
    expect(ds.skipped).toEqual({});
    const splits = new Set(ds.examples.map((e) => e.split));
    expect(splits.has("train")).toBe(true);
    for (const e of ds.examples) {
      expect(e.labels.length).toBe(14);
      expect(e.findings.length).toBeGreaterThan(0);
      expect(e.impression.length).toBeGreaterThan(0);
      expect(e.report).toBe(`${e.findings}\n\n${e.impression}`);
      expect(e.imagePath).toMatch(
        new RegExp(`/files/p${e.subjectId.slice(0, 2)}/p${e.subjectId}/s${e.studyId}/[0-9a-f-]+\\.jpg$`),
      );
      expect(["PA", "AP"]).toContain(e.view);
    }
  });

  it("reads gzipped tables the same as plain ones, and is deterministic from the seed", async () => {
    const a = await loadDataset({ format: "synthetic", root: join(dir, "a"), section: "findings" });
    const b = await loadDataset({ format: "mimic-cxr-jpg", root: join(dir, "b"), section: "findings" });
    const strip = (x: typeof a) =>
      x.examples.map((e) => ({ ...e, imagePath: e.imagePath?.replace(x.root, "") }));
    expect(strip(b)).toEqual(strip(a));
    expect(readFileSync(a.examples[0].imagePath as string)).toEqual(
      readFileSync(b.examples[0].imagePath as string),
    );
  });

  it("writes labels that agree with what each report says", async () => {
    const ds = await loadDataset({ format: "synthetic", root: join(dir, "a"), section: "both" });
    const eff = labelIndex("Pleural Effusion");
    const ptx = labelIndex("Pneumothorax");
    const nf = labelIndex("No Finding");
    for (const e of ds.examples) {
      const t = e.report.toLowerCase();
      if (e.labels[eff] === 1) expect(t).toMatch(/effusion/);
      if (e.labels[eff] === 0)
        expect(t).toMatch(/no (pleural )?effusion|no pleural effusion or|there is no effusion/);
      if (e.labels[eff] === null) expect(t).not.toMatch(/effusion/);
      if (e.labels[eff] === -1) expect(t).toMatch(/possible|cannot be excluded/);
      if (e.labels[ptx] === null) expect(t).not.toMatch(/pneumothorax/);
      if (e.labels[nf] === 1)
        for (const l of CHEXPERT_LABELS)
          if (l !== "No Finding" && l !== "Support Devices") expect(e.labels[labelIndex(l)]).not.toBe(1);
    }
    // Every value kind shows up somewhere in 60 studies.
    const values = new Set(ds.examples.flatMap((e) => e.labels));
    expect([...values].sort()).toEqual([-1, 0, 1, null].sort());
  });

  it("keeps only the requested views", async () => {
    const ds = await loadDataset({
      format: "synthetic",
      root: join(dir, "a"),
      section: "both",
      views: ["PA"],
    });
    expect(ds.examples.every((e) => e.view === "PA")).toBe(true);
    expect(ds.skipped.no_matching_view).toBe(60 - ds.examples.length);
    expect(ds.examples.length).toBeGreaterThan(0);
  });

  it("of a study's several images uses a frontal one, by dicom_id order, first or last as asked", async () => {
    const root = join(dir, "multi");
    await synthesize({ out: root, studies: 6, seed: 5, difficulty: "easy", imageSize: 32 });
    const before = await loadDataset({ format: "synthetic", root, section: "both" });
    const e = before.examples[0];
    const studyDir = dirname(e.imagePath as string);
    const original = basename(e.imagePath as string, ".jpg");
    // A lateral that sorts first and a second frontal view that sorts last, as MIMIC studies have.
    const lateral = "00000000-lateral";
    const second = "ffffffff-second";
    copyFileSync(e.imagePath as string, join(studyDir, `${lateral}.jpg`));
    copyFileSync(e.imagePath as string, join(studyDir, `${second}.jpg`));
    const meta = join(root, "mimic-cxr-2.0.0-metadata.csv");
    const row = (dicom: string, view: string) =>
      `${dicom},${e.subjectId},${e.studyId},CHEST (PA AND LAT),${view},32,32,21000101,120000.000,Chest,x,Erect\n`;
    appendFileSync(meta, row(lateral, "LATERAL") + row(second, e.view ?? "PA"));
    const pick = async (imageChoice?: "first" | "last") =>
      (await loadDataset({ format: "synthetic", root, section: "both", imageChoice })).examples.find(
        (x) => x.id === e.id,
      )!.imagePath as string;
    expect(basename(await pick(), ".jpg")).toBe(original);
    expect(basename(await pick("first"), ".jpg")).toBe(original);
    expect(basename(await pick("last"), ".jpg")).toBe(second);
    // Asked for laterals only, the study has exactly one image to use.
    const lat = await loadDataset({ format: "synthetic", root, section: "both", views: ["LATERAL"] });
    expect(lat.examples.map((x) => basename(x.imagePath as string, ".jpg"))).toEqual([lateral]);
  });

  it("turns a wrong root into one clear DataError", async () => {
    await expect(
      loadDataset({ format: "mimic-cxr-jpg", root: join(dir, "nope"), section: "both" }),
    ).rejects.toThrow(/does not exist/);
    const err = await loadDataset({ format: "mimic-cxr-jpg", root: IU_ROOT, section: "both" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).message).toMatch(/not a MIMIC-CXR-JPG root: mimic-cxr-2.0.0-split.csv/);
  });
});

describe("IU X-ray reader", () => {
  it("loads the 296 validation studies with sections and mapped labels", async () => {
    const ds = await loadDataset({ format: "iu-xray", root: IU_ROOT, section: "both" });
    expect(ds.examples.length).toBe(296);
    expect(ds.skipped).toEqual({});
    for (const e of ds.examples) {
      expect(e.split).toBe("validate");
      expect(e.findings.length + e.impression.length).toBeGreaterThan(0);
      expect(e.imagePath).toBeNull(); // the shared copy has no images
      expect(e.labels.length).toBe(14);
    }
    const ex = ds.examples.find((e) => e.id === "CXR2279_IM-0865");
    expect(ex?.labels[labelIndex("Cardiomegaly")]).toBe(1);
    expect(ex?.impression).toBe("Cardiomegaly with mild bibasilar infiltrates versus atelectasis.");
    expect(ex?.view).toBe("Frontal");
    // 98 studies are marked normal in the gold standard.
    expect(ds.examples.filter((e) => e.labels[labelIndex("No Finding")] === 1).length).toBe(98);
    // Observations with no IU counterpart stay blank.
    expect(ds.examples.every((e) => e.labels[labelIndex("Support Devices")] === null)).toBe(true);
  });

  it("selects a single section when asked", async () => {
    const ds = await loadDataset({ format: "iu-xray", root: IU_ROOT, section: "impression" });
    expect(ds.examples.every((e) => e.report === e.impression)).toBe(true);
    expect(ds.examples.length + (ds.skipped.no_section ?? 0)).toBe(296);
  });
});

describe("IU X-ray reader with an image folder", () => {
  it("uses the frontal image, decodes it, and counts missing and corrupt ones", async () => {
    const { copyFileSync, mkdirSync, writeFileSync } = await import("node:fs");
    const sharp = (await import("sharp")).default;
    const root = join(dir, "iu");
    mkdirSync(root, { recursive: true });
    copyFileSync(join(IU_ROOT, "reports-valid.json"), join(root, "reports-valid.json"));
    copyFileSync(join(IU_ROOT, "labels-valid.csv"), join(root, "labels-valid.csv"));
    const reports = JSON.parse(readFileSync(join(root, "reports-valid.json"), "utf8")) as Record<
      string,
      { image_path: string[]; frontal_lateral: string[] }
    >;
    // Give the first 3 studies (frontal first) their images; make the 3rd one a broken PNG.
    const ids = Object.keys(reports)
      .filter((k) => reports[k].frontal_lateral[0] === "Frontal")
      .slice(0, 3);
    for (const [n, id] of ids.entries()) {
      const p = join(root, "images", reports[id].image_path[0]);
      mkdirSync(join(p, ".."), { recursive: true });
      if (n < 2)
        await sharp({ create: { width: 20, height: 24, channels: 3, background: { r: 90, g: 90, b: 90 } } })
          .png()
          .toFile(p);
      else writeFileSync(p, "not a png");
    }
    const ds = await loadDataset({ format: "iu-xray", root, section: "both", verifyImages: true });
    expect(ds.examples.map((e) => e.id).sort()).toEqual(ids.slice(0, 2).sort());
    expect(ds.examples[0].imagePath).toMatch(/images\/CXR.*\/0\.png$/);
    expect(ds.skipped.corrupt_image).toBe(1);
    expect((ds.skipped.missing_image ?? 0) + (ds.skipped.no_matching_view ?? 0)).toBe(296 - 3);
    // Studies whose listed views give no frontal image (lateral only, or fewer paths than views).
    const noFrontal = Object.values(reports).filter(
      (r) => !r.image_path.some((_, i) => r.frontal_lateral[i] === "Frontal"),
    ).length;
    expect(noFrontal).toBeGreaterThan(0);
    expect(ds.skipped.no_matching_view).toBe(noFrontal);
  });
});

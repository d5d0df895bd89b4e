// Reader for the MIMIC-CXR-JPG v2.0.0 layout (also what `radfleet data synth` writes):
//   mimic-cxr-2.0.0-split.csv(.gz)     dicom_id, study_id, subject_id, split (train/validate/test)
//   mimic-cxr-2.0.0-chexpert.csv(.gz)  subject_id, study_id, 14 observations as 1.0 / 0.0 / -1.0 / blank
//   mimic-cxr-2.0.0-metadata.csv(.gz)  dicom_id, subject_id, study_id, ..., ViewPosition, ...
//   files/pXX/p<subject>/s<study>.txt and files/pXX/p<subject>/s<study>/<dicom_id>.jpg
// Column names and value encodings follow the MIMIC-CXR-JPG v2.0.0 documentation on PhysioNet.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CHEXPERT_LABELS, type LabelValue, type LabelVector } from "../../common/chexpert.js";
import { findCsv, readCsv, type CsvTable } from "./csv.js";
import { extractSections } from "./sections.js";
import { selectReport } from "./select-report.js";
import { SkipCounter } from "./skips.js";
import { imageProblem } from "./image.js";
import { DataError, type Dataset, type Example, type LoadOptions, type Split } from "./types.js";

export const MIMIC_TABLES = {
  split: "mimic-cxr-2.0.0-split",
  chexpert: "mimic-cxr-2.0.0-chexpert",
  metadata: "mimic-cxr-2.0.0-metadata",
} as const;

const SPLITS: Record<string, Split> = { train: "train", validate: "validate", test: "test" };

function columns(table: CsvTable, path: string, names: readonly string[]): number[] {
  return names.map((n) => {
    const i = table.header.indexOf(n);
    if (i < 0)
      throw new DataError(
        `${path}: missing column "${n}" (header: ${table.header.join(",")}); is this a MIMIC-CXR-JPG v2.0.0 table?`,
        "bad_file",
      );
    return i;
  });
}

const isId = (s: string): boolean => /^\d+$/.test(s.trim());

function labelValue(s: string): LabelValue | undefined {
  const t = s.trim();
  if (t === "") return null;
  const v = Number(t);
  if (v === 1 || v === 0 || v === -1) return v;
  return undefined;
}

export function studyDir(root: string, subjectId: string, studyId: string): string {
  return join(root, "files", `p${subjectId.slice(0, 2)}`, `p${subjectId}`, `s${studyId}`);
}

interface Image {
  dicomId: string;
  view: string;
}

export async function loadMimic(opts: LoadOptions): Promise<Dataset> {
  const root = resolve(opts.root);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new DataError(
      `data root ${root} does not exist or is not a directory; check data.path`,
      "bad_root",
    );
  const paths = {
    split: findCsv(root, MIMIC_TABLES.split),
    chexpert: findCsv(root, MIMIC_TABLES.chexpert),
    metadata: findCsv(root, MIMIC_TABLES.metadata),
  };
  const absent = Object.entries(paths)
    .filter(([, p]) => p === null)
    .map(([k]) => `${MIMIC_TABLES[k as keyof typeof MIMIC_TABLES]}.csv(.gz)`);
  if (absent.length > 0)
    throw new DataError(
      `${root} is not a MIMIC-CXR-JPG root: ${absent.join(", ")} not found. Point data.path at the folder holding the CSVs and files/ (or run "radfleet data synth --out ${root}")`,
      "bad_root",
    );
  const skips = new SkipCounter();
  const views = new Set((opts.views ?? ["PA", "AP"]).map((v) => v.toUpperCase()));

  // split: study -> split, and which dicoms belong to it.
  const splitPath = paths.split as string;
  const splitT = readCsv(splitPath);
  const [sDicom, sStudy, sSubject, sSplit] = columns(splitT, splitPath, [
    "dicom_id",
    "study_id",
    "subject_id",
    "split",
  ]);
  for (const line of splitT.malformedLines) skips.skip(`${MIMIC_TABLES.split}:${line}`, "malformed_row");
  const studySplit = new Map<string, { split: Split; subjectId: string }>();
  splitT.rows.forEach((r, i) => {
    const split = SPLITS[r[sSplit].trim()];
    if (!isId(r[sStudy]) || !isId(r[sSubject]) || !split || r[sDicom].trim() === "") {
      skips.skip(`${MIMIC_TABLES.split}:${splitT.rowLines[i]}`, "malformed_row");
      return;
    }
    studySplit.set(r[sStudy].trim(), { split, subjectId: r[sSubject].trim() });
  });

  // metadata: study -> images with their view.
  const metaPath = paths.metadata as string;
  const metaT = readCsv(metaPath);
  const [mDicom, mStudy, mView] = columns(metaT, metaPath, ["dicom_id", "study_id", "ViewPosition"]);
  for (const line of metaT.malformedLines) skips.skip(`${MIMIC_TABLES.metadata}:${line}`, "malformed_row");
  const studyImages = new Map<string, Image[]>();
  metaT.rows.forEach((r, i) => {
    if (!isId(r[mStudy]) || r[mDicom].trim() === "") {
      skips.skip(`${MIMIC_TABLES.metadata}:${metaT.rowLines[i]}`, "malformed_row");
      return;
    }
    const list = studyImages.get(r[mStudy].trim()) ?? [];
    list.push({ dicomId: r[mDicom].trim(), view: r[mView].trim().toUpperCase() });
    studyImages.set(r[mStudy].trim(), list);
  });

  // chexpert: one row per study; the studies we load are those with labels.
  const chexPath = paths.chexpert as string;
  const chexT = readCsv(chexPath);
  const [cSubject, cStudy, ...cLabels] = columns(chexT, chexPath, [
    "subject_id",
    "study_id",
    ...CHEXPERT_LABELS,
  ]);
  for (const line of chexT.malformedLines) skips.skip(`${MIMIC_TABLES.chexpert}:${line}`, "malformed_row");

  const examples: Example[] = [];
  const seen = new Set<string>();
  const malformedStudies = new Set<string>();
  for (let i = 0; i < chexT.rows.length; i++) {
    const r = chexT.rows[i];
    const labels = cLabels.map((c) => labelValue(r[c]));
    if (!isId(r[cStudy]) || !isId(r[cSubject]) || labels.some((v) => v === undefined)) {
      skips.skip(`${MIMIC_TABLES.chexpert}:${chexT.rowLines[i]}`, "malformed_row");
      // Counted once: a study whose labels row is malformed is not also "no_labels".
      if (isId(r[cStudy])) malformedStudies.add(r[cStudy].trim());
      continue;
    }
    const studyId = r[cStudy].trim();
    const subjectId = r[cSubject].trim();
    const id = `s${studyId}`;
    if (seen.has(studyId)) {
      skips.skip(id, "duplicate_study");
      continue;
    }
    seen.add(studyId);
    const where = studySplit.get(studyId);
    if (!where) {
      skips.skip(id, "not_in_split");
      continue;
    }
    const dir = studyDir(root, subjectId, studyId);
    const reportPath = `${dir}.txt`;
    if (!existsSync(reportPath)) {
      skips.skip(id, "missing_report");
      continue;
    }
    const text = readFileSync(reportPath, "utf8");
    if (text.trim() === "") {
      skips.skip(id, "empty_report");
      continue;
    }
    const sections = extractSections(text);
    const report = selectReport(sections, opts.section);
    if (report === "") {
      skips.skip(id, "no_section");
      continue;
    }
    const candidates = (studyImages.get(studyId) ?? [])
      .filter((im) => views.has(im.view))
      .sort((a, b) => (a.dicomId < b.dicomId ? -1 : a.dicomId > b.dicomId ? 1 : 0));
    if (candidates.length === 0) {
      skips.skip(id, "no_matching_view");
      continue;
    }
    const chosen = opts.imageChoice === "last" ? candidates[candidates.length - 1] : candidates[0];
    const imagePath = join(dir, `${chosen.dicomId}.jpg`);
    const problem = await imageProblem(imagePath, opts.verifyImages);
    if (problem) {
      skips.skip(id, problem);
      continue;
    }
    examples.push({
      id,
      subjectId,
      studyId,
      split: where.split,
      report,
      findings: sections.findings,
      impression: sections.impression,
      labels: labels as LabelVector,
      imagePath,
      view: chosen.view,
    });
  }
  // Studies in the split without a labels row (MIMIC-CXR-JPG has a few): counted, not loaded.
  for (const studyId of studySplit.keys())
    if (!seen.has(studyId) && !malformedStudies.has(studyId)) skips.skip(`s${studyId}`, "no_labels");
  return { format: opts.format, root, examples, skipped: skips.counts, skippedIds: skips.ids };
}

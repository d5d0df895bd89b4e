// Reader for the IU X-ray (Open-i) layout of shared/data/iu-xray:
//   reports-*.json   { "<study id>": { report, section_findings, section_impression, image_path[],
//                      frontal_lateral[], split, ... } }   (the ReXrank release of IU X-ray)
//   labels-*.csv     optional; keyed "CXR<uid>", the 14 ChestX-ray14 findings and "normal", 1 = present
//   images/          optional; image_path entries are relative to it
// Sections are taken from our own extractor on `report` (so IU and MIMIC go through one code path);
// the published section_* fields are the fallback when the extractor finds nothing.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CHEXPERT_LABELS, type ChexpertLabel, type LabelVector } from "../../common/chexpert.js";
import { readCsv } from "./csv.js";
import { imageProblem } from "./image.js";
import { extractSections } from "./sections.js";
import { selectReport } from "./select-report.js";
import { SkipCounter } from "./skips.js";
import { DataError, type Dataset, type Example, type LoadOptions, type Split } from "./types.js";

/**
 * ChestX-ray14 / Open-i gold-standard columns mapped to CheXpert observations (shared/data/iu-xray/README.md).
 * Infiltration, Emphysema, Fibrosis and Hernia have no CheXpert counterpart and are dropped.
 */
export const IU_TO_CHEXPERT: Record<string, ChexpertLabel> = {
  Atelectasis: "Atelectasis",
  Cardiomegaly: "Cardiomegaly",
  Effusion: "Pleural Effusion",
  Mass: "Lung Lesion",
  Nodule: "Lung Lesion",
  Pneumonia: "Pneumonia",
  Pneumothorax: "Pneumothorax",
  Consolidation: "Consolidation",
  Edema: "Edema",
  Pleural_Thickening: "Pleural Other",
  normal: "No Finding",
};

const SPLITS: Record<string, Split> = { train: "train", val: "validate", validate: "validate", test: "test" };

interface IuRecord {
  report: string;
  section_findings?: string;
  section_impression?: string;
  image_path?: string[];
  frontal_lateral?: string[];
  split?: string;
}

function isRecord(v: unknown): v is IuRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.report === "string" &&
    (r.image_path === undefined ||
      (Array.isArray(r.image_path) && r.image_path.every((p) => typeof p === "string"))) &&
    (r.frontal_lateral === undefined ||
      (Array.isArray(r.frontal_lateral) && r.frontal_lateral.every((p) => typeof p === "string")))
  );
}

/**
 * Labels per "CXR<uid>". The gold standard only marks presence, so a 1 becomes 1 and a 0 becomes blank
 * (not mentioned): an unannotated finding is not an asserted negative. Observations without an
 * IU counterpart (Enlarged Cardiomediastinum, Fracture, Lung Opacity, Support Devices) stay blank.
 */
function readLabels(path: string, skips: SkipCounter): Map<string, LabelVector> {
  const t = readCsv(path);
  const key = t.header.indexOf("filename");
  if (key < 0)
    throw new DataError(`${path}: no "filename" column; expected the Open-i gold standard CSV`, "bad_file");
  for (const line of t.malformedLines) skips.skip(`labels:${line}`, "malformed_row");
  const out = new Map<string, LabelVector>();
  t.rows.forEach((r, i) => {
    const v: LabelVector = CHEXPERT_LABELS.map(() => null);
    let ok = true;
    t.header.forEach((h, c) => {
      const target = IU_TO_CHEXPERT[h];
      if (!target) return;
      const x = r[c].trim();
      if (x !== "0" && x !== "1") ok = false;
      else if (x === "1") v[CHEXPERT_LABELS.indexOf(target)] = 1;
    });
    if (!ok || !/^CXR\d+$/.test(r[key].trim())) skips.skip(`labels:${t.rowLines[i]}`, "malformed_row");
    else out.set(r[key].trim(), v);
  });
  return out;
}

export async function loadIu(opts: LoadOptions): Promise<Dataset> {
  const root = resolve(opts.root);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new DataError(
      `data root ${root} does not exist or is not a directory; check data.path`,
      "bad_root",
    );
  const files = readdirSync(root);
  const reportFiles = files.filter((f) => /^reports.*\.json$/.test(f)).sort();
  if (reportFiles.length === 0)
    throw new DataError(
      `${root} is not an IU X-ray root: no reports*.json found (expected the layout of shared/data/iu-xray)`,
      "bad_root",
    );
  const skips = new SkipCounter();
  const labelFiles = files.filter((f) => /^labels.*\.csv$/.test(f)).sort();
  const labels = new Map<string, LabelVector>();
  for (const f of labelFiles) for (const [k, v] of readLabels(join(root, f), skips)) labels.set(k, v);
  const imageDir = join(root, "images");
  const haveImages = existsSync(imageDir);
  const wanted = new Set<string>();
  for (const v of opts.views ?? ["PA", "AP"]) {
    const u = v.toUpperCase();
    wanted.add(
      u === "PA" || u === "AP" || u === "FRONTAL" ? "FRONTAL" : u === "LATERAL" || u === "LL" ? "LATERAL" : u,
    );
  }

  const examples: Example[] = [];
  for (const f of reportFiles) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(join(root, f), "utf8"));
    } catch (e) {
      throw new DataError(`${join(root, f)}: not valid JSON (${(e as Error).message})`, "bad_file");
    }
    if (typeof parsed !== "object" || parsed === null)
      throw new DataError(`${join(root, f)}: expected an object keyed by study id`, "bad_file");
    for (const [id, rec] of Object.entries(parsed as Record<string, unknown>)) {
      if (!isRecord(rec)) {
        skips.skip(id, "malformed_row");
        continue;
      }
      const split = SPLITS[(rec.split ?? "").trim()];
      if (!split) {
        skips.skip(id, "not_in_split");
        continue;
      }
      if (rec.report.trim() === "") {
        skips.skip(id, "empty_report");
        continue;
      }
      const found = extractSections(rec.report);
      const sections = {
        findings: found.findings || (rec.section_findings ?? "").trim(),
        impression: found.impression || (rec.section_impression ?? "").trim(),
      };
      const report = selectReport(sections, opts.section);
      if (report === "") {
        skips.skip(id, "no_section");
        continue;
      }
      const uid = /^CXR(\d+)/.exec(id)?.[1] ?? id;
      const images = (rec.image_path ?? []).map((p, i) => ({
        path: p,
        view: rec.frontal_lateral?.[i] ?? "",
      }));
      const matching = images.filter((im) => wanted.has(im.view.toUpperCase()));
      const chosen = opts.imageChoice === "last" ? matching[matching.length - 1] : matching[0];
      let imagePath: string | null = null;
      if (haveImages) {
        if (!chosen) {
          skips.skip(id, "no_matching_view");
          continue;
        }
        imagePath = join(imageDir, chosen.path);
        const problem = await imageProblem(imagePath, opts.verifyImages);
        if (problem) {
          skips.skip(id, problem);
          continue;
        }
      }
      examples.push({
        id,
        subjectId: uid,
        studyId: id,
        split,
        report,
        findings: sections.findings,
        impression: sections.impression,
        labels: labels.get(`CXR${uid}`) ?? CHEXPERT_LABELS.map(() => null),
        imagePath,
        view: chosen ? chosen.view : null,
      });
    }
  }
  return { format: "iu-xray", root, examples, skipped: skips.counts, skippedIds: skips.ids };
}

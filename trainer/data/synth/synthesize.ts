// `radfleet data synth`: writes a synthetic data set in the MIMIC-CXR-JPG v2.0.0 layout
// (split / chexpert / metadata CSVs, files/pXX/p<subject>/s<study>.txt and
// files/pXX/p<subject>/s<study>/<dicom_id>.jpg). Same seed, same options: same files.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import sharp from "sharp";
import { CHEXPERT_LABELS } from "../../../common/chexpert.js";
import { MIMIC_TABLES, studyDir } from "../mimic-reader.js";
import { mulberry32 } from "../../../common/random.js";
import { DataError, type SynthOptions } from "../types.js";
import { drawFindings, labelVector } from "./findings-state.js";
import { drawRadiograph } from "./draw-radiograph.js";
import { writeReport } from "./write-report.js";

const METADATA_HEADER = [
  "dicom_id",
  "subject_id",
  "study_id",
  "PerformedProcedureStepDescription",
  "ViewPosition",
  "Rows",
  "Columns",
  "StudyDate",
  "StudyTime",
  "ProcedureCodeSequence_CodeMeaning",
  "ViewCodeSequence_CodeMeaning",
  "PatientOrientationCodeSequence_CodeMeaning",
];

function dicomId(rand: () => number): string {
  const hex = (): string =>
    Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  return [hex(), hex(), hex(), hex(), hex()].join("-");
}

function labelCell(v: 1 | 0 | -1 | null): string {
  return v === null ? "" : v.toFixed(1);
}

export async function synthesize(opts: SynthOptions): Promise<{ studies: number; seconds: number }> {
  const t0 = performance.now();
  if (!Number.isInteger(opts.studies) || opts.studies < 1)
    throw new DataError(`synthesize: studies must be an integer >= 1, got ${opts.studies}`, "bad_argument");
  const size = opts.imageSize ?? 256;
  if (!Number.isInteger(size) || size < 16 || size > 4096)
    throw new DataError(
      `synthesize: imageSize must be an integer in [16, 4096], got ${size}`,
      "bad_argument",
    );
  const fr = opts.splitFractions ?? { train: 0.8, validate: 0.1, test: 0.1 };
  const total = fr.train + fr.validate + fr.test;
  if (!(total > 0) || fr.train < 0 || fr.validate < 0 || fr.test < 0)
    throw new DataError(
      `synthesize: splitFractions must be >= 0 with a positive sum, got ${JSON.stringify(fr)}`,
      "bad_argument",
    );
  const out = resolve(opts.out);
  mkdirSync(join(out, "files"), { recursive: true });

  const rand = mulberry32(opts.seed >>> 0);
  const splitRows: string[] = ["dicom_id,study_id,subject_id,split"];
  const chexRows: string[] = [["subject_id", "study_id", ...CHEXPERT_LABELS].join(",")];
  const metaRows: string[] = [METADATA_HEADER.join(",")];
  const pending = new Set<Promise<void>>();

  let subject = 10000000 + Math.floor(rand() * 1000) * 1000;
  let studiesLeft = 0;
  let split = "train";
  let study = 50000000 + Math.floor(rand() * 1000) * 1000;
  for (let i = 0; i < opts.studies; i++) {
    if (studiesLeft === 0) {
      // MIMIC splits by patient: all studies of a subject share a split.
      subject += 1 + Math.floor(rand() * 50);
      studiesLeft = 1 + Math.floor(rand() * 3);
      const r = rand() * total;
      split = r < fr.train ? "train" : r < fr.train + fr.validate ? "validate" : "test";
    }
    studiesLeft--;
    study += 1 + Math.floor(rand() * 500);
    const subjectId = String(subject);
    const studyId = String(study);
    const findings = drawFindings(rand, opts.prevalence ?? {});
    const report = writeReport(findings, rand, opts.reportStyle ?? "default");
    // Drawn at no more than 128 px and scaled up by sharp: the film is smooth at that scale, and it
    // keeps 2,000 studies of 256 px well under a minute on two cores.
    const drawSize = Math.min(size, 128);
    const pixels = drawRadiograph(findings, rand, { size: drawSize, difficulty: opts.difficulty });
    const view = findings.devices.length > 0 || rand() < 0.3 ? "AP" : "PA";
    const dicom = dicomId(rand);
    const dir = studyDir(out, subjectId, studyId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}.txt`, report);
    splitRows.push(`${dicom},${studyId},${subjectId},${split}`);
    chexRows.push([subjectId, studyId, ...labelVector(findings).map(labelCell)].join(","));
    const date = 21000101 + Math.floor(rand() * 28);
    metaRows.push(
      [
        dicom,
        subjectId,
        studyId,
        "CHEST (PA AND LAT)",
        view,
        size,
        size,
        date,
        "120000.000",
        "Chest",
        view === "PA" ? "postero-anterior" : "antero-posterior",
        "Erect",
      ].join(","),
    );
    // Encoding runs on libuv's thread pool while the next image is drawn; a few in flight at most.
    const p: Promise<void> = sharp(pixels, { raw: { width: drawSize, height: drawSize, channels: 1 } })
      .resize(size, size, { kernel: "cubic" })
      .blur(size >= 128 ? 0.7 : 0.4)
      .toColourspace("b-w")
      .jpeg({ quality: 90 })
      .toFile(join(dir, `${dicom}.jpg`))
      .then(() => {
        pending.delete(p);
      });
    pending.add(p);
    if (pending.size >= 8) await Promise.race(pending);
  }
  await Promise.all(pending);

  const write = (base: string, rows: string[]): void => {
    const text = rows.join("\n") + "\n";
    if (opts.gzip) writeFileSync(join(out, `${base}.csv.gz`), gzipSync(text));
    else writeFileSync(join(out, `${base}.csv`), text);
  };
  write(MIMIC_TABLES.split, splitRows);
  write(MIMIC_TABLES.chexpert, chexRows);
  write(MIMIC_TABLES.metadata, metaRows);
  return { studies: opts.studies, seconds: (performance.now() - t0) / 1000 };
}

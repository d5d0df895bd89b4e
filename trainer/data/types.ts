// The data part's shared types: one example per study, whatever the source layout.
import type { ChexpertLabel, LabelVector } from "../../common/chexpert.js";

export type Split = "train" | "validate" | "test";

export type DatasetFormat = "mimic-cxr-jpg" | "iu-xray" | "synthetic";

export interface Example {
  id: string;
  subjectId: string;
  studyId: string;
  split: Split;
  /** The selected section(s): findings, impression, or both joined by a blank line. */
  report: string;
  findings: string;
  impression: string;
  /** 14 values in CHEXPERT_LABELS order. */
  labels: LabelVector;
  /** Absolute path of the chosen image; null where the layout ships no images (IU reports only). */
  imagePath: string | null;
  view: string | null;
}

/** Why a study was left out. The named ones are the reasons the readers produce. */
export type SkipReason =
  | "missing_image"
  | "corrupt_image"
  | "empty_report"
  | "malformed_row"
  | "not_in_split"
  | "missing_report"
  | string;

export interface Dataset {
  format: DatasetFormat;
  root: string;
  examples: Example[];
  skipped: Record<SkipReason, number>;
  skippedIds: Array<{ id: string; reason: SkipReason }>;
}

export interface LoadOptions {
  format: DatasetFormat;
  root: string;
  section: "findings" | "impression" | "both";
  /** MIMIC ViewPosition values kept; default ["PA", "AP"]. For IU X-ray, PA/AP select frontal images. */
  views?: string[];
  /** Which of a study's matching images to use (by dicom_id order for MIMIC, listing order for IU). */
  imageChoice?: "first" | "last";
  /** Decode every chosen image once and skip corrupt ones (slower; `radfleet data check` does it). */
  verifyImages?: boolean;
}

export interface SynthOptions {
  out: string;
  studies: number;
  seed: number;
  difficulty: "easy" | "hard";
  /** Square image side in pixels; default 256. */
  imageSize?: number;
  /** Probability that a study has each finding (positive or uncertain); defaults in synth/prevalence.ts. */
  prevalence?: Partial<Record<ChexpertLabel, number>>;
  /** "terse" is a second phrasing style, for a pretraining corpus that differs from the fine-tuning one. */
  reportStyle?: "default" | "terse";
  /** Fractions of subjects per split; default 0.8 / 0.1 / 0.1. */
  splitFractions?: { train: number; validate: number; test: number };
  /** Write the CSVs gzipped (.csv.gz) as MIMIC-CXR-JPG ships them; default false. */
  gzip?: boolean;
}

/** A failure the caller can act on: bad root, unreadable file, corrupt image. */
export class DataError extends Error {
  constructor(
    message: string,
    readonly code: "bad_root" | "bad_file" | "corrupt_image" | "bad_argument",
  ) {
    super(message);
    this.name = "DataError";
  }
}

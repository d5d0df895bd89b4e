// What each synthetic study has: per observation a state and its attributes (side, size, ...).
// Images are drawn from this and reports written from it, so labels, text and pixels agree.
import {
  CHEXPERT_LABELS,
  type ChexpertLabel,
  type LabelValue,
  type LabelVector,
} from "../../../common/chexpert.js";

/** pos: asserted (1); unc: hedged (-1); neg: explicitly denied (0); none: not mentioned (blank). */
export type FindingState = "pos" | "unc" | "neg" | "none";
export type Side = "left" | "right" | "bilateral";
export type Size = "small" | "moderate" | "large";
export type Device = "ett" | "cvc" | "pacemaker" | "ngt";

export interface StudyFindings {
  state: Record<ChexpertLabel, FindingState>;
  side: Record<ChexpertLabel, Side>;
  size: Record<ChexpertLabel, Size>;
  /** Lung zone for focal findings, as a fraction down the lung (0 apex .. 1 base). */
  zone: Record<ChexpertLabel, number>;
  devices: Device[];
}

/** Default prevalence of each finding (positive or uncertain), rough MIMIC-CXR-like rates scaled for learnability. */
export const DEFAULT_PREVALENCE: Record<Exclude<ChexpertLabel, "No Finding">, number> = {
  Atelectasis: 0.2,
  Cardiomegaly: 0.2,
  Consolidation: 0.1,
  Edema: 0.12,
  "Enlarged Cardiomediastinum": 0.08,
  Fracture: 0.06,
  "Lung Lesion": 0.08,
  "Lung Opacity": 0.15,
  "Pleural Effusion": 0.2,
  "Pleural Other": 0.05,
  Pneumonia: 0.08,
  Pneumothorax: 0.08,
  "Support Devices": 0.2,
};

/** Chance that an absent finding is explicitly denied in the report (else it is not mentioned). */
const NEGATION_RATE: Record<Exclude<ChexpertLabel, "No Finding">, number> = {
  Atelectasis: 0.1,
  Cardiomegaly: 0.6,
  Consolidation: 0.5,
  Edema: 0.3,
  "Enlarged Cardiomediastinum": 0.4,
  Fracture: 0.2,
  "Lung Lesion": 0.15,
  "Lung Opacity": 0.1,
  "Pleural Effusion": 0.7,
  "Pleural Other": 0.05,
  Pneumonia: 0.2,
  Pneumothorax: 0.7,
  "Support Devices": 0,
};

const UNCERTAIN_RATE = 0.15;

export function drawFindings(
  rand: () => number,
  prevalence: Partial<Record<ChexpertLabel, number>>,
): StudyFindings {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const state = {} as Record<ChexpertLabel, FindingState>;
  const side = {} as Record<ChexpertLabel, Side>;
  const size = {} as Record<ChexpertLabel, Size>;
  const zone = {} as Record<ChexpertLabel, number>;
  for (const label of CHEXPERT_LABELS) {
    side[label] = pick(["left", "right"] as const);
    size[label] = pick(["small", "moderate", "large"] as const);
    zone[label] = 0.25 + 0.55 * rand();
    if (label === "No Finding") continue;
    const p = prevalence[label] ?? DEFAULT_PREVALENCE[label];
    if (rand() < p) state[label] = label !== "Support Devices" && rand() < UNCERTAIN_RATE ? "unc" : "pos";
    else state[label] = rand() < NEGATION_RATE[label] ? "neg" : "none";
  }
  // Bilateral is common for effusion and edema-like processes.
  if (rand() < 0.3) side["Pleural Effusion"] = "bilateral";
  if (state["Pleural Effusion"] === "unc") size["Pleural Effusion"] = "small";
  if (state.Pneumothorax === "unc") size.Pneumothorax = "small";
  const devices: Device[] = [];
  if (state["Support Devices"] === "pos") {
    for (const d of ["ett", "cvc", "pacemaker", "ngt"] as const) if (rand() < 0.4) devices.push(d);
    if (devices.length === 0) devices.push(pick(["ett", "cvc", "pacemaker", "ngt"] as const));
  }
  // radfleet's labeler rule (trainer/eval): No Finding is positive when no other observation is
  // positive or uncertain, support devices included (the IU X-ray annotators' convention), and blank
  // otherwise.
  const anyPathology = CHEXPERT_LABELS.some(
    (l) => l !== "No Finding" && (state[l] === "pos" || state[l] === "unc"),
  );
  state["No Finding"] = anyPathology ? "none" : "pos";
  return { state, side, size, zone, devices };
}

export function labelVector(f: StudyFindings): LabelVector {
  const value: Record<FindingState, LabelValue> = { pos: 1, unc: -1, neg: 0, none: null };
  return CHEXPERT_LABELS.map((l) => value[f.state[l]]);
}

/** A study with exactly one finding present (or none, for "No Finding"): contact sheets and tests. */
export function singleFinding(label: ChexpertLabel, rand: () => number): StudyFindings {
  const f = drawFindings(rand, Object.fromEntries(CHEXPERT_LABELS.map((l) => [l, 0])));
  for (const l of CHEXPERT_LABELS) f.state[l] = "none";
  f.devices = [];
  if (label === "No Finding") f.state["No Finding"] = "pos";
  else f.state[label] = "pos";
  if (label === "Support Devices") f.devices = ["ett", "cvc", "pacemaker"];
  f.size[label] = "moderate";
  return f;
}

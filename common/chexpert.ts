// The 14 CheXpert observations, in the column order of the CheXpert labeler and of MIMIC-CXR-JPG's
// mimic-cxr-2.0.0-chexpert.csv (source: stanfordmlgroup/chexpert-labeler, MIMIC-CXR-JPG v2.0.0 docs).
// Data readers, the labeler, the classification head and the findings table all index labels by this order.

export const CHEXPERT_LABELS = [
  "Atelectasis",
  "Cardiomegaly",
  "Consolidation",
  "Edema",
  "Enlarged Cardiomediastinum",
  "Fracture",
  "Lung Lesion",
  "Lung Opacity",
  "No Finding",
  "Pleural Effusion",
  "Pleural Other",
  "Pneumonia",
  "Pneumothorax",
  "Support Devices",
] as const;

export type ChexpertLabel = (typeof CHEXPERT_LABELS)[number];

/** The five observations most papers report clinical-efficacy metrics on (CheXpert competition set). */
export const CHEXPERT_5: readonly ChexpertLabel[] = [
  "Atelectasis",
  "Cardiomegaly",
  "Consolidation",
  "Edema",
  "Pleural Effusion",
];

/** A label value as CheXpert writes it: 1 positive, 0 negative, -1 uncertain, null not mentioned. */
export type LabelValue = 1 | 0 | -1 | null;

/** One value per observation, in CHEXPERT_LABELS order. */
export type LabelVector = LabelValue[];

export const NUM_LABELS = CHEXPERT_LABELS.length;

export function labelIndex(name: ChexpertLabel): number {
  return CHEXPERT_LABELS.indexOf(name);
}

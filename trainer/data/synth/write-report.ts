// Report text for a synthetic study, written from the same StudyFindings the image is drawn from, so
// the CheXpert labels (1 asserted, -1 hedged, 0 denied, blank unmentioned) agree with the words.
// Phrases avoid the words of other observations (e.g. "opacity" appears only for Lung Opacity) so a
// CheXpert-style labeler reading the text would assign the same labels.
import type { ChexpertLabel } from "../../../common/chexpert.js";
import type { Side, StudyFindings } from "./findings-state.js";

type Ctx = {
  side: string;
  Side: string;
  size: string;
  Size: string;
  zone: string;
  lobe: string;
  sev: string;
};
type Templates = Partial<Record<ChexpertLabel, { pos: string[]; unc: string[]; neg: string[] }>>;

const DEFAULT: Templates = {
  Atelectasis: {
    pos: [
      "{Side} basilar atelectasis.",
      "Plate-like atelectasis at the {side} lung base.",
      "Linear atelectasis in the {side} lower lung.",
    ],
    unc: ["Possible {side} basilar atelectasis.", "{Side} basilar atelectasis cannot be excluded."],
    neg: ["No atelectasis."],
  },
  Cardiomegaly: {
    pos: ["The heart is {sev} enlarged.", "{Sev} cardiomegaly.", "The cardiac silhouette is enlarged."],
    unc: ["Possible mild cardiomegaly.", "The heart may be mildly enlarged."],
    neg: ["Heart size is normal.", "The cardiac silhouette is within normal limits.", "No cardiomegaly."],
  },
  Consolidation: {
    pos: ["Focal consolidation in the {side} {lobe} lobe.", "{Side} {lobe} lobe consolidation is present."],
    unc: [
      "Possible {side} {lobe} lobe consolidation.",
      "Cannot exclude consolidation in the {side} {lobe} lobe.",
    ],
    neg: ["No focal consolidation.", "There is no consolidation."],
  },
  Edema: {
    pos: [
      "{Sev2} pulmonary edema.",
      "Perihilar vascular congestion and septal lines consistent with {sev2l} interstitial edema.",
    ],
    unc: ["Possible mild pulmonary edema.", "Mild edema cannot be excluded."],
    neg: ["No pulmonary edema.", "No evidence of edema."],
  },
  "Enlarged Cardiomediastinum": {
    pos: ["The mediastinum is widened.", "Widened mediastinal contour."],
    unc: ["The mediastinum may be slightly widened."],
    neg: ["The mediastinal contours are normal.", "Normal cardiomediastinal silhouette."],
  },
  Fracture: {
    pos: ["Acute fracture of the {side} posterior ribs.", "Displaced {side} rib fractures."],
    unc: ["Possible nondisplaced {side} rib fracture."],
    neg: ["No displaced fracture.", "No acute rib fracture."],
  },
  "Lung Lesion": {
    pos: [
      "A {cm} cm rounded mass in the {side} {zone} lung.",
      "{Side} {zone} lung nodule measuring {cm} cm.",
    ],
    unc: ["Possible nodule in the {side} {zone} lung."],
    neg: ["No suspicious pulmonary nodules or masses."],
  },
  "Lung Opacity": {
    pos: ["Hazy opacity in the {side} {zone} lung.", "Ill-defined {side} {zone} lung opacity."],
    unc: ["Possible faint opacity in the {side} {zone} lung."],
    neg: ["No focal opacity."],
  },
  "Pleural Effusion": {
    pos: [
      "{Size} {side} pleural effusion.",
      "{Side} pleural effusion, {size} in size.",
      "Blunting of the {side} costophrenic angle from a {size} effusion.",
    ],
    unc: ["Possible small {side} pleural effusion.", "A trace {side} effusion cannot be excluded."],
    neg: ["No pleural effusion.", "There is no effusion."],
  },
  "Pleural Other": {
    pos: ["{Side} pleural thickening.", "Pleural thickening along the {side} lateral chest wall."],
    unc: ["Possible {side} pleural thickening."],
    neg: ["No pleural thickening."],
  },
  Pneumonia: {
    pos: ["{Side} lower lung pneumonia.", "Findings in the {side} lower lung are consistent with pneumonia."],
    unc: ["Cannot exclude {side} pneumonia.", "Possible early pneumonia in the {side} lung."],
    neg: ["No evidence of pneumonia."],
  },
  Pneumothorax: {
    pos: ["{Size} {side} apical pneumothorax.", "There is a {size} {side} pneumothorax."],
    unc: ["Possible tiny {side} apical pneumothorax."],
    neg: ["No pneumothorax."],
  },
};

// Terse style: the radiologist's short list. A second phrasing for a corpus unlike the fine-tuning one.
const TERSE: Templates = {
  Atelectasis: {
    pos: ["{Side} base atelectasis."],
    unc: ["Possible {side} base atelectasis."],
    neg: ["No atelectasis."],
  },
  Cardiomegaly: { pos: ["Cardiomegaly."], unc: ["Possible cardiomegaly."], neg: ["Normal heart size."] },
  Consolidation: {
    pos: ["{Side} {lobe} consolidation."],
    unc: ["Possible {side} consolidation."],
    neg: ["No consolidation."],
  },
  Edema: { pos: ["Edema."], unc: ["Possible edema."], neg: ["No edema."] },
  "Enlarged Cardiomediastinum": {
    pos: ["Wide mediastinum."],
    unc: ["Possible wide mediastinum."],
    neg: ["Mediastinum normal."],
  },
  Fracture: { pos: ["{Side} rib fractures."], unc: ["Possible {side} rib fracture."], neg: ["No fracture."] },
  "Lung Lesion": { pos: ["{Side} lung mass."], unc: ["Possible {side} nodule."], neg: ["No nodules."] },
  "Lung Opacity": { pos: ["{Side} opacity."], unc: ["Possible {side} opacity."], neg: ["No opacity."] },
  "Pleural Effusion": {
    pos: ["{Size} {side} effusion."],
    unc: ["Possible {side} effusion."],
    neg: ["No effusion."],
  },
  "Pleural Other": {
    pos: ["{Side} pleural thickening."],
    unc: ["Possible pleural thickening."],
    neg: ["No pleural thickening."],
  },
  Pneumonia: { pos: ["{Side} pneumonia."], unc: ["Possible pneumonia."], neg: ["No pneumonia."] },
  Pneumothorax: {
    pos: ["{Side} pneumothorax."],
    unc: ["Possible {side} pneumothorax."],
    neg: ["No pneumothorax."],
  },
};

const DEVICE_TEXT = {
  ett: [
    "Endotracheal tube terminates {n} cm above the carina.",
    "The endotracheal tube is in standard position.",
  ],
  cvc: [
    "Right internal jugular central venous catheter ends in the SVC.",
    "A right-sided central line tip projects over the SVC.",
  ],
  pacemaker: [
    "Left chest wall pacemaker with leads in the right heart.",
    "A dual-lead pacemaker is in place.",
  ],
  ngt: ["Nasogastric tube courses below the diaphragm.", "An enteric tube passes into the stomach."],
} as const;

// Body regions: sentences of one region stay together, regions come in a varied order.
const REGION: Record<string, number> = {
  Cardiomegaly: 0,
  "Enlarged Cardiomediastinum": 0,
  "Lung Opacity": 1,
  Consolidation: 1,
  Pneumonia: 1,
  "Lung Lesion": 1,
  Atelectasis: 1,
  Edema: 1,
  "Pleural Effusion": 2,
  Pneumothorax: 2,
  "Pleural Other": 2,
  Fracture: 3,
};

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function sideWord(side: Side, label: ChexpertLabel): string {
  if (side === "bilateral") return label === "Pleural Effusion" ? "bilateral" : "left";
  return side;
}

/** Wraps at ~`width` columns with a leading space, as MIMIC report files are laid out. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (line.length + w.length + 1 > width && line) {
      lines.push(` ${line}`);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(` ${line}`);
  return lines.join("\n");
}

export function writeReport(f: StudyFindings, rand: () => number, style: "default" | "terse"): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const T = style === "terse" ? TERSE : DEFAULT;
  const sentences: Array<{ region: number; text: string }> = [];
  const impression: string[] = [];
  const fill = (tpl: string, label: ChexpertLabel): string => {
    const side = sideWord(f.side[label], label);
    const size = f.size[label];
    const zone = f.zone[label] < 0.45 ? "upper" : f.zone[label] < 0.65 ? "mid" : "lower";
    const sev = { small: "mildly", moderate: "moderately", large: "severely" }[size];
    const sev2 = { small: "mild", moderate: "moderate", large: "moderate" }[size];
    const ctx: Ctx & Record<string, string> = {
      side,
      Side: cap(side),
      size,
      Size: cap(size),
      zone,
      lobe: f.zone[label] > 0.5 ? "lower" : "upper",
      sev,
      Sev: cap(sev.replace("ly", "")),
      sev2l: sev2,
      Sev2: cap(sev2),
      cm: (label === "Lung Lesion" && f.size[label] === "small" ? 1.2 + rand() : 2.5 + 2 * rand()).toFixed(1),
    };
    return tpl.replace(/\{(\w+)\}/g, (_m, k: string) => ctx[k] ?? k);
  };

  const st = f.state;
  // A common joint negation, as radiologists write it.
  const jointNeg = st["Pleural Effusion"] === "neg" && st.Pneumothorax === "neg" && rand() < 0.5;
  if (jointNeg)
    sentences.push({
      region: 2,
      text: style === "terse" ? "No effusion or pneumothorax." : "No pleural effusion or pneumothorax.",
    });
  for (const [label, region] of Object.entries(REGION) as Array<[ChexpertLabel, number]>) {
    const s = st[label];
    if (s === "none") continue;
    if (jointNeg && (label === "Pleural Effusion" || label === "Pneumothorax")) continue;
    const t = T[label];
    if (!t) continue;
    const text = fill(pick(t[s as "pos" | "unc" | "neg"]), label);
    sentences.push({ region, text });
    if (s !== "neg") impression.push(text);
  }
  const lungFinding = [
    "Lung Opacity",
    "Consolidation",
    "Pneumonia",
    "Lung Lesion",
    "Atelectasis",
    "Edema",
  ].some((l) => st[l as ChexpertLabel] === "pos" || st[l as ChexpertLabel] === "unc");
  if (!lungFinding && rand() < 0.6) {
    sentences.push({ region: 1, text: style === "terse" ? "Lungs clear." : "The lungs are clear." });
    // The labels say what the report says, and radfleet's labeler reads "the lungs are clear" as
    // stating no opacity, consolidation or pneumonia (trainer/eval/normal-anatomy.ts).
    for (const l of ["Lung Opacity", "Consolidation", "Pneumonia"] as const)
      if (st[l] === "none") st[l] = "neg";
  }
  const deviceSentences: string[] = [];
  for (const d of f.devices) {
    const text = pick(DEVICE_TEXT[d]).replace("{n}", (3 + Math.floor(rand() * 4)).toString());
    sentences.push({ region: 4, text });
    deviceSentences.push(text);
  }

  const order = [0, 1, 2, 3, 4].sort(() => rand() - 0.5);
  const findings = order
    .flatMap((r) => sentences.filter((s) => s.region === r).sort(() => rand() - 0.5))
    .map((s) => s.text)
    .join(" ");
  let impr: string;
  if (impression.length === 0)
    impr =
      f.devices.length > 0 && rand() < 0.5
        ? "Support devices as described. No acute cardiopulmonary process."
        : style === "terse"
          ? "Unremarkable chest."
          : pick([
              "No acute cardiopulmonary process.",
              "No acute intrathoracic abnormality.",
              "Normal chest radiograph.",
            ]);
  else
    impr =
      impression.slice(0, 3).join(" ") + (impression.length > 3 ? " " + impression.slice(3).join(" ") : "");
  // The impression states every positive observation the labels hold, lines and tubes included, as
  // MIMIC-CXR-JPG's labels come from the impression: a model trained on impressions is then scored
  // only on what its targets say. (The terse style, the pretraining corpus's, keeps its old form, and
  // no draw of rand() changes, so images, labels and findings are as before.)
  if (style === "default" && deviceSentences.length > 0 && !impr.startsWith("Support devices as described"))
    impr = `${impr} ${deviceSentences.join(" ")}`;

  const indication = pick([
    "___ with cough.",
    "___-year-old with shortness of breath.",
    "Fever, evaluate for pneumonia.",
    "Chest pain. ___",
  ]);
  const head = rand() < 0.7 ? ["FINDINGS:", "IMPRESSION:"] : ["Findings:", "Impression:"];
  const parts = [
    "                                 FINAL REPORT",
    ` EXAMINATION:  CHEST (PA AND LAT)`,
    "",
    ` INDICATION:  ${indication}`,
    "",
    ` COMPARISON:  ${pick(["None.", "___", "Prior radiograph from ___."])}`,
    "",
  ];
  const fBlock = [` ${head[0]}`, "", wrap(findings, 70), ""];
  const iBlock = [` ${head[1]}`, "", wrap(impr, 70), ""];
  // A few reports put the impression first, as some templates do.
  if (rand() < 0.1) parts.push(...iBlock, ...fBlock);
  else parts.push(...fBlock, ...iBlock);
  return parts.join("\n");
}

// A seeded synthetic data set of chest X-ray reports for evaluation tests: each report states a random
// set of findings (with sides) and denies the rest, in varied wording.
import { mulberry32 } from "../../common/random.js";

interface Finding {
  present: string[];
  absent: string[];
  sided: boolean;
}

const FINDINGS: Finding[] = [
  {
    present: ["There is a small {side} pleural effusion.", "Moderate {side} pleural effusion."],
    absent: ["No pleural effusion."],
    sided: true,
  },
  {
    present: ["Mild cardiomegaly.", "The heart is enlarged."],
    absent: ["Heart size is normal.", "Normal heart size."],
    sided: false,
  },
  {
    present: ["{Side} lower lobe atelectasis.", "Subsegmental atelectasis in the {side} base."],
    absent: ["No atelectasis."],
    sided: true,
  },
  {
    present: ["Focal consolidation in the {side} lower lobe."],
    absent: ["No focal consolidation."],
    sided: true,
  },
  { present: ["Small {side} apical pneumothorax."], absent: ["No pneumothorax."], sided: true },
  { present: ["Mild pulmonary edema."], absent: ["No pulmonary edema."], sided: false },
  {
    present: ["A {side} upper lobe nodule is seen."],
    absent: ["No suspicious pulmonary nodules."],
    sided: true,
  },
  { present: ["Right-sided PICC with tip in the SVC."], absent: [], sided: false },
];

export interface SyntheticReport {
  id: string;
  text: string;
}

export function syntheticReports(n: number, seed: number): SyntheticReport[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const out: SyntheticReport[] = [];
  for (let i = 0; i < n; i++) {
    const sentences: string[] = [];
    for (const f of FINDINGS) {
      if (rand() < 0.3) {
        const side = pick(["left", "right"]);
        sentences.push(
          pick(f.present)
            .replace("{side}", side)
            .replace("{Side}", side[0].toUpperCase() + side.slice(1)),
        );
      } else if (f.absent.length) {
        sentences.push(pick(f.absent));
      }
    }
    sentences.push(
      pick([
        "The osseous structures are intact.",
        "Visualized bones are unremarkable.",
        "Trachea is midline.",
      ]),
    );
    out.push({ id: `syn-${i}`, text: sentences.join(" ") });
  }
  return out;
}

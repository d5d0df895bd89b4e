// Normal-anatomy statements: a structure said to be normal implies the observations that structure would
// show are absent ("the lungs are clear": no opacity, consolidation or pneumonia). They only ever add
// negative mentions, so a positive mention elsewhere in the report still wins, and the words inside
// them ("pleural spaces") never count as a mention of anything. Negated or qualified forms ("the lungs
// are not clear", "clear except for …") do not match: the normal word must follow the structure with
// nothing abnormal in between.

import type { ChexpertLabel } from "../../common/chexpert.js";

export interface NormalAnatomy {
  /** regular-expression source, matched on lowercased text with word boundaries around it */
  pattern: string;
  /** the observations the statement says are absent */
  absent: ChexpertLabel[];
}

// A list of structures may sit between the structure and the normal word ("heart size, mediastinal
// contour and pulmonary vascularity are within normal limits"), but nothing that says abnormal.
const LIST_GAP =
  "(?:(?!not |no |enlarg|increas|prominen|congest|abnormal|engorg|indistinct|except|but |low |hyper)[^.;:]){0,60}?";
const BE = "(?:(?:is|are|appear|appears|remain|remains|otherwise)\\s+)*";

export const NORMAL_ANATOMY: NormalAnatomy[] = [
  {
    pattern: `(?:the )?lungs?(?: fields?)? ${BE}(?:grossly )?(?:clear|well[- ]aerated)`,
    absent: ["Lung Opacity", "Consolidation", "Pneumonia"],
  },
  {
    pattern: `(?:pleural spaces?|pleural surfaces?|costophrenic (?:angles?|sulci))${LIST_GAP}${BE}(?:clear|sharp|normal|unremarkable)`,
    absent: ["Pleural Effusion", "Pneumothorax", "Pleural Other"],
  },
  {
    pattern: `(?:pulmonary )?(?:vascularity|vasculature)${LIST_GAP}${BE}(?:normal|within normal limits|unremarkable)`,
    absent: ["Edema"],
  },
  {
    pattern: `(?:osseous|bony|skeletal) structures${LIST_GAP}${BE}(?:intact|normal|unremarkable)`,
    absent: ["Fracture"],
  },
];

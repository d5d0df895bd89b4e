// radfleet's own lexicon for the 14 CheXpert observations: phrases that mention each observation,
// look-alike phrases that must not count, and phrases that state the observation's normal state.
// Method after the CheXpert labeler (stanfordmlgroup/chexpert-labeler: mention extraction, then
// negation and uncertainty classification, then aggregation); the phrases are written for radfleet.
// Patterns are regular-expression sources matched on lowercased text with word boundaries around them.

import type { ChexpertLabel } from "../../common/chexpert.js";

export interface ObservationLexicon {
  /** phrases that mention the observation; status comes from the negation/uncertainty rules */
  mentions: string[];
  /** phrases that contain a mention but are something else; a mention inside one is dropped */
  exclusions?: string[];
  /** phrases that state the observation is absent (normal heart size); always negative */
  normalForms?: string[];
  /** phrases that state the observation hedged (heart size at the upper limit of normal); always uncertain */
  uncertainForms?: string[];
}

/** Observations the labeler looks for; "No Finding" is derived, never matched. */
export type MentionedLabel = Exclude<ChexpertLabel, "No Finding">;

// Words that may sit between an organ and its qualifier without changing the meaning.
const GAP = "(?:(?!normal|mediastin|hil[ua]|lung|aort|vascul|pulmonary|without|no )[^.;:]){0,40}?";
// Between an organ and "normal": other organs may be listed, but nothing that says abnormal.
const NORMAL_GAP = "(?:(?!enlarg|large|cardiomegaly|increase|prominen|borderline|upper)[^.;:]){0,60}?";
const HEART = "(?:heart|cardiac silhouette|cardiac shadow|cardiac size|cardiac contour|heart size|cardiac)";
const NORMAL = "(?:normal|unremarkable|within normal limits|not enlarged|grossly normal)";

export const LEXICON: Record<MentionedLabel, ObservationLexicon> = {
  Atelectasis: {
    mentions: [
      "atelectas[ie]s",
      "atelectatic(?: change| changes)?",
      "(?:lung|lobar|lobe|segmental) collapse",
      "collapse of the (?:right|left)?\\s*(?:upper|middle|lower)? ?(?:lobe|lung)",
      "collapsed lung",
    ],
  },
  Cardiomegaly: {
    mentions: [
      "cardiomegaly",
      "cardiac enlargement",
      "enlarged (?:heart|cardiac silhouette|cardiac shadow)",
      "enlargement of the (?:heart|cardiac silhouette)",
      `${HEART}${GAP}(?:is |are |appears |remains )?(?:mildly |moderately |markedly |severely |slightly |significantly )?(?:enlarged|large|increased|prominent)`,
      "(?:large|prominent) heart",
    ],
    normalForms: [
      `(?:normal|normal-sized|normal sized) (?:heart|cardiac silhouette|cardiac size|cardiac contour|heart size)`,
      `${HEART}${NORMAL_GAP}(?:${NORMAL})`,
      // "At the upper limit of normal" is still inside the normal range: a normal statement, not a hedge.
      `${HEART}${GAP}(?:at the )?(?:upper limits? of normal|top normal|top-normal|upper normal|high normal|high-normal)`,
    ],
    uncertainForms: [
      "borderline (?:cardiomegaly|heart size|enlarged heart|cardiac enlargement)",
      `${HEART}${GAP}(?:borderline (?:enlarged|in size)|borderline)`,
    ],
  },
  "Enlarged Cardiomediastinum": {
    mentions: [
      "(?:wide|widen(?:ed|ing)) (?:of the )?(?:superior )?mediastinum",
      "mediastinal widening",
      "widened mediastinal (?:silhouette|contour)",
      "enlarged cardiomediastinal silhouette",
      "(?:cardiomediastinal silhouette|mediastinal (?:silhouette|contours?)|mediastinum)(?: is| are| appears?| may be| might be| could be)?(?: mildly| slightly)? (?:enlarged|widened|prominent)",
      "prominen(?:t|ce of the) (?:mediastinum|mediastinal contour)",
    ],
    normalForms: [
      "(?:normal|unremarkable|stable) (?:cardiomediastinal silhouette|mediastinal (?:silhouette|contours?)|mediastinum)",
      `(?:cardio ?mediastinal silhouette|mediastinal (?:silhouette|contours?)|mediastinum)${NORMAL_GAP}(?:${NORMAL})`,
    ],
  },
  "Lung Lesion": {
    mentions: [
      "nodules?",
      "nodular (?:opacit(?:y|ies)|densit(?:y|ies)|lesions?|opacification)",
      "masse?s?",
      "lesions?",
      "tumou?rs?",
      "neoplasms?",
      "carcinoma",
      "malignancy",
      "metastas[ie]s",
      "metastatic disease",
      "cavitary lesion",
      "lump",
    ],
    exclusions: [
      "mass effect",
      "soft tissue mass(?:es)?",
      // Calcification marks a nodule as an old granuloma, wherever it sits in the noun phrase.
      "(?:densely |partially )?calcified (?:[a-z0-9-]+ ){0,3}?(?:nodules?|nodular densit(?:y|ies)|granulomas?|lymph nodes?)",
      "(?:nodules?|nodular densit(?:y|ies)) (?:(?:is|are|appears?|which (?:is|are)) )?(?:densely |partially )?calcified",
      "granulomatous nodules?",
      "(?:bony|osseous|bone|lytic|sclerotic|blastic|skin) lesions?",
      "breast mass(?:es)?",
      "body mass",
      "nipple shadow",
    ],
  },
  "Lung Opacity": {
    mentions: [
      "opacit(?:y|ies)",
      "opacification",
      "opacified",
      "infiltrat(?:e|es|ion|ive)",
      "air ?-?space (?:disease|process|opacit(?:y|ies)|filling)",
      "densit(?:y|ies)",
      "haziness",
      "hazy",
      "interstitial (?:markings?|prominence|pattern|thickening|lung disease|disease|changes?)",
      "reticular (?:markings?|pattern|opacit(?:y|ies))",
      "reticulonodular",
      "reticulation",
      "peribronchial (?:thickening|cuffing)",
      "ground glass",
      "ground-glass",
    ],
    exclusions: [
      "nodular (?:opacit(?:y|ies)|densit(?:y|ies)|opacification)",
      "bone densit(?:y|ies)",
      "bony densit(?:y|ies)",
      "calcified densit(?:y|ies)",
      "soft tissue densit(?:y|ies)",
      "metallic densit(?:y|ies)",
    ],
  },
  Edema: {
    mentions: [
      "edema",
      "oedema",
      "(?:pulmonary|vascular|venous) congestion",
      "congestive heart failure",
      "chf",
      "heart failure",
      "fluid overload",
      "kerley b?-? ?lines",
      "cephalization",
    ],
    exclusions: ["soft tissue edema", "(?:subcutaneous|soft-tissue|extremity|chest wall) edema"],
  },
  Consolidation: {
    mentions: ["consolidat(?:ion|ions|ive|ed)"],
  },
  Pneumonia: {
    mentions: ["pneumonias?", "bronchopneumonia", "pneumonitis", "infectious (?:process|disease|etiology)"],
    exclusions: ["urinary tract infection", "uti"],
  },
  Pneumothorax: {
    mentions: ["pneumothora(?:x|ces)", "hydropneumothorax", "pneumothoraxes"],
  },
  "Pleural Effusion": {
    mentions: [
      "effusions?",
      "pleural fluid",
      "hydropneumothorax",
      "hydrothorax",
      "fluid (?:in|within) the (?:pleural|costophrenic|fissure)",
      "layering fluid",
    ],
    exclusions: ["pericardial effusions?", "joint effusions?"],
    uncertainForms: [
      "blunt(?:ing|ed) (?:of )?(?:the )?(?:right |left |bilateral |posterior |lateral )*costophrenic (?:angles?|sulcus|sulci|recess(?:es)?)",
    ],
  },
  "Pleural Other": {
    mentions: [
      "pleural thickening",
      "thickening of the pleura",
      "pleural plaques?",
      "pleural scarring",
      "pleural calcifications?",
      "calcified pleura(?:l plaques?)?",
      "fibrothorax",
      "(?:apical )?pleural (?:cap|capping)",
      "pleural-parenchymal scarring",
      "pleuroparenchymal (?:scarring|thickening)",
      "pleural reaction",
      "apical (?:cap|capping)",
      // A head shared by two coordinated findings: "pleural effusion versus thickening" names pleural
      // thickening too; the "versus" inside the span then makes it uncertain.
      "pleural (?:effusions?|fluid) (?:or|versus|vs\\.?|and/or|and) (?:pleural )?(?:thickening|scarring)",
    ],
  },
  Fracture: {
    mentions: ["fractures?", "fractured", "fx"],
  },
  "Support Devices": {
    mentions: [
      "pacemaker",
      "pacer",
      "defibrillator",
      "aicd",
      "icd",
      "picc",
      "port-a-cath",
      "portacath",
      "power port",
      "catheters?",
      "(?:endotracheal|nasogastric|orogastric|chest|feeding|tracheostomy|enteric|et|ng|og|dobhoff) tubes?",
      "(?:central venous|central|venous|arterial|swan-ganz|dialysis|subclavian|jugular) (?:line|catheter)s?",
      "stents?",
      "(?:pacing|pacer|cardiac) (?:leads?|wires?)",
      "(?:transvenous|epicardial) (?:leads?|wires?)",
      "leads?",
      "tracheostomy",
      "(?:prosthetic|mechanical) (?:valve|aortic valve|mitral valve)",
      "valve replacement",
      "loop recorder",
      "drains?",
      "devices?",
      "(?:lines?|tubes?)(?:,? (?:or|and) (?:lines?|tubes?|catheters?|devices?))+",
      "(?:medical|support|monitoring) (?:lines|tubes|devices)",
      // Only a device has a tip that lies somewhere ("right chest XXXX tip in the low SVC").
      "tip (?:(?:is|lies|projects|terminates|overlies|extends) )?(?:in|at|over|within|into|near|overlying|projecting over) the",
    ],
    exclusions: ["lead to", "leads to"],
  },
};

/**
 * Findings outside the 14 (granuloma, emphysema, degenerative spine, low lung volumes…). They are not
 * labels, but a report that asserts one is not a normal study: radfleet lets them block No Finding too,
 * which the CheXpert rule alone does not (option `otherFindingsBlockNoFinding`).
 */
export const OTHER_FINDINGS: string[] = [
  "granulomas?",
  "granulomatous",
  "calcified (?:nodules?|lymph nodes?|nodes?)",
  "calcifications?",
  "calcified",
  "emphysema",
  "emphysematous",
  "copd",
  "chronic obstructive",
  "hyperinflat(?:ed|ion)",
  "hyperexpan(?:ded|sion)",
  "hyperlucen(?:t|cy)",
  "overinflat(?:ed|ion)",
  "flattening of the (?:hemi)?diaphragms?",
  "flattened (?:hemi)?diaphragms?",
  "low lung volumes?",
  "(?:lung )?volumes (?:are |remain )?(?:low|diminished|reduced|decreased)",
  "hypoinflation",
  "hypoinflated",
  "hypoventilat(?:ory|ion)",
  "poor inspiration",
  "low inspiratory volumes?",
  "bronchovascular crowding",
  "degenerative",
  "spondylosis",
  "osteophytes?",
  "arthriti(?:s|c)",
  "(?:dextro|levo|thoraco|thoracolumbar )?scoliosis",
  "(?:dextro|levo)?convex",
  "kyphosis",
  "kyphotic",
  "tortuous",
  "tortuosity",
  "ectasia",
  "ectatic",
  "unfolded",
  "unfolding",
  "atherosclero(?:sis|tic)",
  "aneurysm(?:al)?",
  "scarring",
  "scars?",
  "fibrosis",
  "fibrotic",
  "bronchiectasis",
  "surgical clips?",
  "sternotomy",
  "postoperative",
  "post-operative",
  "postsurgical",
  "post surgical",
  "cholecystectomy",
  "hernia",
  "eventration",
  "elevat(?:ed|ion) (?:of the )?(?:right |left )?(?:hemi)?diaphragm",
  "(?:right |left )?(?:hemi)?diaphragm(?:atic)? (?:is |are )?elevat(?:ed|ion)",
  "lymphadenopathy",
  "lymph nodes?",
  "lobulated (?:contour|margin)",
  "adenopathy",
  "osteopenia",
  "osteopenic",
  "demineraliz(?:ed|ation)",
  "deformity",
  "prominen(?:t|ce)",
  "cysts?",
  "bullae?",
  "bullous",
  "thickening",
  "tuberculosis",
  "chronic (?:changes?|lung disease|interstitial)",
  "compression",
  "wedging",
  "vertebroplasty",
  "kyphoplasty",
  "hyperaerat(?:ed|ion)",
  // Categories of chest-film abnormality outside the 14 (surgery and hardware, foreign bodies,
  // free air, chest-wall and airway changes, vascular and hilar enlargement): written from the kinds
  // of finding, not from report phrases.
  "(?:thoracotomy|lobectomy|pneumonectomy|mastectomy|cabg|bypass graft(?:ing)?|arthroplasty|spinal fusion)",
  "(?:surgical|orthopedic|fixation|spinal) (?:hardware|rods?|plates?|screws?)",
  "(?:sternal |sternotomy )?(?:wires|sutures?|staples)",
  "prosthes(?:is|es)",
  "foreign bod(?:y|ies)",
  "(?:bullet|shrapnel|metallic) (?:fragments?|fragment|densit(?:y|ies)|foreign bod(?:y|ies))",
  "(?:free (?:intraperitoneal |subdiaphragmatic )?air|pneumoperitoneum|pneumomediastinum)",
  "subcutaneous (?:emphysema|air)",
  "(?:pectus (?:excavatum|carinatum)|cervical ribs?)",
  "air-?fluid levels?",
  "cavitation",
  "abscess",
  "volume loss",
  "(?:mediastinal|tracheal) (?:shift|deviation)",
  "(?:hilar|hila) (?:enlargement|fullness|prominence)",
  "(?:enlarged|prominent|full) hil(?:a|um|ar)",
  "pulmonary (?:arterial |artery )?hypertension",
  "(?:enlarged|dilated|prominent) (?:pulmonary arter(?:y|ies)|aorta|esophagus)",
  "hiatal",
  "bronchitis",
  "bronch(?:ial|ovascular) (?:wall )?thickening",
  "sarcoid(?:osis)?",
  "vascular (?:calcification|prominence|redistribution)",
];

export const OTHER_EXCLUSIONS: string[] = [];

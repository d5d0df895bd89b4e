// Words the tiny preset's default tokenizer knows when no corpus is given: the 14 CheXpert
// observations and the common words of chest X-ray findings and impressions (written for radfleet).
// `radfleet pretrain` builds the real vocabulary from the training reports instead.
import { CHEXPERT_LABELS } from "../../common/chexpert.js";

const WORDS = `
findings impression the a an and or of in on at to with without is are was were be been there no not
any new old acute chronic stable unchanged improved worsened increased decreased since prior previous
comparison study exam examination radiograph radiographs chest pa ap lateral portable upright supine
view views frontal heart size normal enlarged mildly moderately severely mild moderate severe small large
cardiac silhouette mediastinal mediastinum contours contour hilar hila lung lungs left right bilateral
upper lower middle lobe lobes base bases apex apical zone zones retrocardiac perihilar basilar
clear well expanded expansion volumes volume low high pleural effusion effusions pneumothorax
consolidation consolidations opacity opacities atelectasis edema pulmonary vascular congestion
interstitial markings pneumonia infection aspiration nodule nodules mass lesion lesions fracture fractures
rib ribs osseous structures bony spine degenerative changes thoracic soft tissues tube tubes line lines
catheter tip terminates terminating projects projecting svc atrium endotracheal enteric nasogastric
pacemaker leads sternotomy wires clips device devices support cm mm evidence suggest suggests suggesting
likely possible possibly probable may could represent reflect concerning concern for focal diffuse
patchy streaky linear subsegmental minimal trace tiny blunting costophrenic angle angles hemidiaphragm
diaphragm elevated elevation free air subdiaphragmatic aorta aortic tortuous calcified calcification
knob arch unremarkable otherwise limited due rotation technique patient position positioning
recommend follow up ct further evaluation as above this that these those which by from than
. , : ; ( ) / - %
`;

export const DEFAULT_TINY_VOCABULARY = `${WORDS} ${CHEXPERT_LABELS.join(" ")}`;

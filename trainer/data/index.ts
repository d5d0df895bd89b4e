// Public surface of the data part: readers, sections, images, sampler, synthetic generator.
export type {
  Split,
  Example,
  SkipReason,
  Dataset,
  DatasetFormat,
  LoadOptions,
  SynthOptions,
} from "./types.js";
export { DataError } from "./types.js";
export { loadDataset } from "./load-dataset.js";
export { extractSections } from "./sections.js";
export { loadImage, verifyImage, PIXEL_MEAN, PIXEL_STD, type ImageOptions } from "./image.js";
export { ShardedSampler, epochPermutation, type SamplerState, type SamplerOptions } from "./sampler.js";
export { synthesize } from "./synth/synthesize.js";
export { DEFAULT_PREVALENCE } from "./synth/findings-state.js";
export { summarize, formatSummary, type DatasetSummary } from "./summary.js";
export { writeContactSheet } from "./contact-sheet.js";

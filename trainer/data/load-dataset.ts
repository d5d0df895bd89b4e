// One entry point for every layout; "synthetic" is the MIMIC-CXR-JPG layout the generator writes.
import { loadIu } from "./iu-reader.js";
import { loadMimic } from "./mimic-reader.js";
import type { Dataset, LoadOptions } from "./types.js";

export async function loadDataset(opts: LoadOptions): Promise<Dataset> {
  if (opts.format === "iu-xray") return loadIu(opts);
  return loadMimic(opts);
}

// The honest split of the IU X-ray validation studies for labeler development: a fixed third is set
// aside by a seeded hash of the study id, and rules are written only from the other two thirds, so the
// set-aside figure estimates how the labeler does on reports no rule was written from.
import { fmix32 } from "../../common/random.js";

/** Named in code so the split never moves: changing it would leak set-aside reports into development. */
export const LABELER_SPLIT_SEED = "radfleet-labeler-split-2026-12-03";

export type LabelerSplitPart = "development" | "set-aside";

/**
 * FNV-1a over UTF-16 code units, then MurmurHash3's 32-bit finalizer: FNV-1a alone mixes short keys that
 * differ only in their last digits poorly, and the finalizer spreads them over the whole range.
 */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/**
 * Split study keys ("CXR2279", the gold CSV's key, so every image of one study falls on the same side):
 * the round(n / 3) studies with the lowest hash of `${LABELER_SPLIT_SEED}:${key}` are set aside, the
 * rest are development. Ranking rather than thresholding the hash makes the set-aside part exactly a
 * third of the set (a threshold gave 88 of 296 with this seed).
 */
export function splitLabelerStudies(keys: readonly string[]): Map<string, LabelerSplitPart> {
  const unique = [...new Set(keys)];
  const ranked = unique
    .map((key) => ({ key, h: hash32(`${LABELER_SPLIT_SEED}:${key}`) }))
    .sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const setAside = Math.round(unique.length / 3);
  return new Map(ranked.map((r, i) => [r.key, i < setAside ? "set-aside" : "development"]));
}

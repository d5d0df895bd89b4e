// All-gather of variable-length byte strings along the ring: N-1 steps; at step s rank r forwards
// the item of rank (r-s) and receives the item of rank (r-s-1). With empty items this is a barrier:
// a rank finishes only after every other rank's item, sent once that rank entered, reached it.

import { FrameKind } from "./frames.js";
import type { RingLinks } from "./ring-links.js";
import { mod } from "./segments.js";

export async function ringAllGather(links: RingLinks, seq: number, mine: Uint8Array): Promise<Uint8Array[]> {
  const n = links.worldSize;
  const r = links.rank;
  const out: Uint8Array[] = new Array<Uint8Array>(n);
  out[r] = mine;
  if (n === 1) return out;
  const kind = FrameKind.allGather;
  links.send(kind, seq, mine);
  for (let s = 0; s < n - 1; s++) {
    const item = await links.recv(kind, seq);
    out[mod(r - s - 1, n)] = item;
    if (s < n - 2) links.send(kind, seq, item);
  }
  await links.flush();
  return out;
}

// Broadcast along the ring, pipelined in pieces: the root sends, every other rank stores each piece
// and forwards it to its right neighbour unless that neighbour is the root. Bytes are copied, never
// recomputed, so every rank ends with the root's bits.

import { CollectiveError } from "./errors.js";
import { FrameKind } from "./frames.js";
import type { RingLinks } from "./ring-links.js";

export async function ringBroadcast(
  links: RingLinks,
  seq: number,
  data: Float32Array,
  root: number,
  pieceElems: number,
): Promise<void> {
  const n = links.worldSize;
  if (n === 1) return;
  const kind = FrameKind.broadcast;
  for (let start = 0; start < data.length || start === 0; start += pieceElems) {
    const end = Math.min(data.length, start + pieceElems);
    const piece = data.subarray(start, end); // [piece]
    if (links.rank === root) {
      links.send(kind, seq, new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength));
    } else {
      const payload = await links.recv(kind, seq);
      if (payload.byteLength !== piece.byteLength) {
        throw links.fail(
          new CollectiveError(
            "PROTOCOL",
            `broadcast from root ${root}: got a ${payload.byteLength}-byte piece, expected ${piece.byteLength}: ranks passed different lengths`,
            links.left,
          ),
        );
      }
      piece.set(new Float32Array(payload.buffer, payload.byteOffset, piece.length));
      if (links.right !== root) links.send(kind, seq, payload);
    }
    if (data.length === 0) break;
  }
  await links.flush();
}

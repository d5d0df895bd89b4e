// How a vector is cut for the ring: N segments (one per rank, sizes differing by at most one
// element, possibly empty), each cut into pieces of at most `pieceElems` elements. Every rank
// computes the same cut from (length, N, pieceElems) alone, so senders and receivers agree on
// every frame without sending sizes.

export interface Piece {
  start: number;
  end: number;
}

export function segmentStart(length: number, worldSize: number, k: number): number {
  return Math.floor((k * length) / worldSize);
}

export function piecesOf(length: number, worldSize: number, k: number, pieceElems: number): Piece[] {
  const start = segmentStart(length, worldSize, k);
  const end = segmentStart(length, worldSize, k + 1);
  const out: Piece[] = [];
  for (let s = start; s < end; s += pieceElems) out.push({ start: s, end: Math.min(end, s + pieceElems) });
  return out;
}

export const mod = (a: number, n: number): number => ((a % n) + n) % n;

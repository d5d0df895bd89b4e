// Who gets which rank when a rendezvous round closes. Pure: the same joins and previous ranks give
// the same ranks, so the rules can be read and tested on their own.
//
// Ranks are stable across generations where possible, because a worker that keeps its rank keeps
// its data shard and its place in the ring:
// 1. previous members come first (in their old rank order), then newcomers in arrival order; the
//    first maxWorkers of them are chosen, the rest wait for the next round;
// 2. a previous member keeps its old rank when that rank still exists in the new (maybe smaller)
//    world;
// 3. everyone else fills the free ranks from 0 up, in the order of step 1.

export interface RankBounds {
  /** A round closes only with at least this many joins. */
  minWorkers: number;
  /** At most this many are placed; the others wait for the next round. */
  maxWorkers: number;
}

export interface RankedWorker<W> {
  worker: W;
  rank: number;
}

/**
 * Ranks for the workers of a closing round. `joined` is in arrival order; `previousRanks` holds
 * the ranks of the most recent generation. Returns the chosen workers in the order of rule 1 (the
 * order they are answered in), each with its rank; ranks are 0..n-1, each once.
 */
export function assignRanks<W extends { workerId: string }>(
  joined: readonly W[],
  previousRanks: ReadonlyMap<string, number>,
  bounds: RankBounds,
): RankedWorker<W>[] {
  if (joined.length < bounds.minWorkers) {
    throw new RangeError(
      `assignRanks: joined has ${joined.length} workers, fewer than minWorkers (${bounds.minWorkers}); ` +
        `a round closes only once min workers have joined`,
    );
  }
  const returning = joined.filter((w) => previousRanks.has(w.workerId));
  returning.sort((a, b) => previousRanks.get(a.workerId)! - previousRanks.get(b.workerId)!);
  const fresh = joined.filter((w) => !previousRanks.has(w.workerId));
  const chosen = [...returning, ...fresh].slice(0, bounds.maxWorkers);
  const size = chosen.length;

  const ranks = new Map<string, number>();
  const taken = new Set<number>();
  for (const w of chosen) {
    const r = previousRanks.get(w.workerId);
    if (r !== undefined && r < size && !taken.has(r)) {
      ranks.set(w.workerId, r);
      taken.add(r);
    }
  }
  let next = 0;
  for (const w of chosen) {
    if (ranks.has(w.workerId)) continue;
    while (taken.has(next)) next++;
    ranks.set(w.workerId, next);
    taken.add(next);
  }
  return chosen.map((worker) => ({ worker, rank: ranks.get(worker.workerId)! }));
}

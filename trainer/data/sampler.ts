// A deterministic, sharded, resumable, elastic sampler.
//
// Each epoch has one permutation of [0, N) drawn from (seed, epoch). A global cursor `consumed`
// counts samples taken from it; every step takes the next worldSize * batchSize of them and rank r
// gets the r-th slice of batchSize. Because the cursor is global, not per rank, the world size may
// change between steps (a new rendezvous generation) and the epoch still visits each sample at most
// once. When fewer than worldSize * batchSize samples remain, that remainder is dropped and the next
// epoch begins, so every rank always gets a full batch and no sample is seen twice in an epoch.

import { mulberry32 } from "../../common/random.js";

export interface SamplerState {
  seed: number;
  epoch: number;
  /** Global samples consumed in this epoch, independent of world size. */
  consumed: number;
}

export interface SamplerOptions {
  datasetSize: number;
  seed: number;
  rank: number;
  worldSize: number;
  batchSize: number;
  state?: SamplerState;
}

/** splitmix32-style hash of two integers into a 32-bit seed. */
function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The permutation of [0, n) for (seed, epoch): Fisher-Yates with mulberry32. */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  const rand = mulberry32(mixSeed(seed, epoch));
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw new RangeError(`ShardedSampler: ${name} must be an integer >= ${min}, got ${v}`);
}

export class ShardedSampler {
  private readonly n: number;
  private readonly rank: number;
  private readonly worldSize: number;
  private readonly batchSize: number;
  private seed: number;
  private epoch: number;
  private consumed: number;
  private perm: Uint32Array | null = null;
  private permEpoch = -1;

  constructor(opts: SamplerOptions) {
    checkInt("datasetSize", opts.datasetSize, 1);
    checkInt("worldSize", opts.worldSize, 1);
    checkInt("batchSize", opts.batchSize, 1);
    checkInt("rank", opts.rank, 0);
    if (opts.rank >= opts.worldSize)
      throw new RangeError(`ShardedSampler: rank ${opts.rank} is not below worldSize ${opts.worldSize}`);
    if (opts.worldSize * opts.batchSize > opts.datasetSize)
      throw new RangeError(
        `ShardedSampler: a global batch of ${opts.worldSize} x ${opts.batchSize} exceeds the ${opts.datasetSize} examples; use a smaller batch or more data`,
      );
    this.n = opts.datasetSize;
    this.rank = opts.rank;
    this.worldSize = opts.worldSize;
    this.batchSize = opts.batchSize;
    const s = opts.state ?? { seed: opts.seed, epoch: 0, consumed: 0 };
    checkInt("state.epoch", s.epoch, 0);
    checkInt("state.consumed", s.consumed, 0);
    this.seed = s.seed;
    this.epoch = s.epoch;
    this.consumed = s.consumed;
  }

  /** This rank's next batch. Every rank calling next() in step advances the same global cursor. */
  next(): { indices: number[]; epoch: number } {
    const global = this.worldSize * this.batchSize;
    if (this.consumed + global > this.n) {
      // The remainder (< global) of this epoch is dropped.
      this.epoch += 1;
      this.consumed = 0;
    }
    if (this.permEpoch !== this.epoch) {
      this.perm = epochPermutation(this.n, this.seed, this.epoch);
      this.permEpoch = this.epoch;
    }
    const perm = this.perm as Uint32Array;
    const start = this.consumed + this.rank * this.batchSize;
    const indices = Array.from(perm.subarray(start, start + this.batchSize));
    this.consumed += global;
    return { indices, epoch: this.epoch };
  }

  /** The cursor to store in a checkpoint; resume with `new ShardedSampler({ ..., state })`. */
  state(): SamplerState {
    return { seed: this.seed, epoch: this.epoch, consumed: this.consumed };
  }

  /** Full steps per epoch at this world size: floor(N / (worldSize * batchSize)). */
  stepsPerEpoch(): number {
    return Math.floor(this.n / (this.worldSize * this.batchSize));
  }
}

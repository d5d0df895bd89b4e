// Counting skipped studies by reason: a bad record is skipped and counted, never fatal.
import type { SkipReason } from "./types.js";

export class SkipCounter {
  readonly counts: Record<SkipReason, number> = {};
  readonly ids: Array<{ id: string; reason: SkipReason }> = [];

  skip(id: string, reason: SkipReason): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    this.ids.push({ id, reason });
  }
}

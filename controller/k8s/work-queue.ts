// A deduplicating work queue keyed by "namespace/name": a key is never processed by two workers
// at once, and a key added while in flight is processed once more afterwards (level-triggered:
// only the latest state matters, so collapsing events loses nothing).

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: Array<() => void> = [];
  private closed = false;

  add(key: string): void {
    if (this.closed) return;
    if (this.inFlight.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.waiters.shift()?.();
  }

  /** Adds the key after `ms`; an earlier pending deadline for the same key wins. */
  addAfter(key: string, ms: number): void {
    const at = Date.now() + ms;
    const cur = this.timers.get(key);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Next key to work on, or undefined once closed. */
  async get(): Promise<string | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const first = this.pending.values().next();
      if (!first.done) {
        this.pending.delete(first.value);
        this.inFlight.add(first.value);
        return first.value;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  done(key: string): void {
    this.inFlight.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  get length(): number {
    return this.pending.size;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
  }
}

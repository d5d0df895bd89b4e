// Named barriers of one generation: entering one waits until every member has entered it.
import { CoordinatorError } from "./errors.js";

interface Arrival {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class Barriers {
  private readonly byName = new Map<string, Map<string, Arrival>>();

  /** @param memberCount the generation's size: a barrier opens once this many have entered. */
  constructor(private readonly memberCount: number) {}

  /** Resolves once every member entered `name`. Entering again replaces the earlier entry. */
  enter(workerId: string, name: string): Promise<void> {
    let arrived = this.byName.get(name);
    if (!arrived) {
      arrived = new Map();
      this.byName.set(name, arrived);
    }
    const barrier = arrived;
    return new Promise<void>((resolve, reject) => {
      barrier
        .get(workerId)
        ?.reject(new CoordinatorError("aborted", `barrier ${name}: entered again by ${workerId}`));
      barrier.set(workerId, { resolve, reject });
      if (barrier.size === this.memberCount) {
        this.byName.delete(name);
        for (const a of barrier.values()) a.resolve();
      }
    });
  }

  /** The caller of `enter` went away: it no longer counts as arrived. */
  cancel(workerId: string, name: string): void {
    this.byName.get(name)?.delete(workerId);
  }

  /** Fails every waiting entry (the generation ended). */
  failAll(why: Error): void {
    for (const arrived of this.byName.values()) for (const a of arrived.values()) a.reject(why);
  }
}

// One running generation: its members in rank order, and the barriers and checkpoint commit that
// only make sense among exactly those members. Ending it fails everything still waiting in it.
import { Barriers } from "./barriers.js";
import { CheckpointCommit, type CheckpointCommitOptions } from "./checkpoint-commit.js";
import type { Member } from "./rendezvous.js";

export class Generation {
  readonly barriers: Barriers;
  readonly checkpoints: CheckpointCommit;
  private readonly byId: Map<string, Member>;

  constructor(
    readonly number: number,
    /** In rank order. */
    readonly members: readonly Member[],
    checkpoint: Omit<CheckpointCommitOptions, "generation" | "memberCount">,
  ) {
    this.byId = new Map(members.map((m) => [m.workerId, m]));
    this.barriers = new Barriers(members.length);
    this.checkpoints = new CheckpointCommit({
      ...checkpoint,
      generation: number,
      memberCount: members.length,
    });
  }

  has(workerId: string): boolean {
    return this.byId.has(workerId);
  }

  rankOf(workerId: string): number | undefined {
    return this.byId.get(workerId)?.rank;
  }

  /** Fails every waiting barrier entry and checkpoint vote with `why`. */
  end(why: Error): void {
    this.barriers.failAll(why);
    this.checkpoints.failAll(why);
  }
}

// The two-phase checkpoint commit of one generation. Phase one: each rank reports every part it
// wrote once that part is durable. Phase two: each member votes to commit, declaring the parts it
// is responsible for. The manifest is committed once every member has voted and every declared
// part was reported; a vote declaring a part that was never reported abandons the step for good,
// so a checkpoint with a missing part can never be committed.
import type { CheckpointPartRecord, CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import type { Logger } from "../../common/log.js";
import { CoordinatorError } from "./errors.js";

const SHA256 = /^[0-9a-f]{64}$/;

export interface CheckpointCommitOptions {
  generation: number;
  /** Votes needed to commit: the generation's size. */
  memberCount: number;
  /** The step of the run's newest committed checkpoint (a new one must be later), if any. */
  latestCommittedStep(): number | undefined;
  /**
   * Records a committed manifest; the voters are answered once it resolves (the run state holding
   * the manifest is durable), and refused if it rejects. startedAtMs: when the step's first part or
   * vote arrived.
   */
  onCommitted(checkpoint: CommittedCheckpoint, startedAtMs: number): Promise<void> | void;
  log: Logger;
  /** The clock, in ms since the epoch. Default Date.now. */
  now?: () => number;
}

interface PendingCheckpoint {
  parts: Map<string, CheckpointPartRecord & { reportedBy: string }>;
  votes: Map<string, { resolve: (c: CommittedCheckpoint) => void; reject: (e: Error) => void }>;
  startedAtMs: number;
}

export class CheckpointCommit {
  private readonly pending = new Map<number, PendingCheckpoint>();
  private readonly abandoned = new Set<number>();
  private readonly now: () => number;

  constructor(private readonly o: CheckpointCommitOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Phase one: `part` of the checkpoint at `step`, written by `workerId`, is durable. */
  reportPart(workerId: string, step: number, part: CheckpointPartRecord | null): void {
    if (
      !part ||
      !part.name ||
      !part.uri ||
      !Number.isInteger(part.size) ||
      part.size < 0 ||
      !SHA256.test(part.sha256)
    ) {
      throw new CoordinatorError(
        "invalid-argument",
        `checkpoint part at step ${step} from ${workerId}: expected name, uri, size >= 0 and a lower-case hex sha256, ` +
          `got ${JSON.stringify(part)}`,
      );
    }
    const p = this.open(step);
    const prev = p.parts.get(part.name);
    if (prev && prev.reportedBy !== workerId && prev.sha256 !== part.sha256) {
      throw new CoordinatorError(
        "invalid-argument",
        `checkpoint part ${part.name} at step ${step}: already reported by ${prev.reportedBy} with another sha256; ` +
          `parts written by every rank need the rank in their name`,
      );
    }
    p.parts.set(part.name, {
      name: part.name,
      uri: part.uri,
      size: part.size,
      sha256: part.sha256,
      reportedBy: workerId,
    });
  }

  /**
   * Phase two: `workerId` votes to commit the checkpoint at `step`, declaring the parts it is
   * responsible for. Resolves with the manifest once every member voted; throws (and abandons the
   * step, failing the other voters) when a declared part was never reported.
   */
  vote(workerId: string, step: number, expectedParts: string[]): Promise<CommittedCheckpoint> {
    const pending = this.open(step);
    const missing = expectedParts.filter((n) => !pending.parts.has(n));
    if (missing.length > 0) {
      const msg =
        `checkpoint at step ${step}: worker ${workerId} declared parts that were never reported: ${missing.join(", ")}; ` +
        `the checkpoint is abandoned and will not be committed`;
      this.pending.delete(step);
      this.abandoned.add(step);
      for (const v of pending.votes.values()) v.reject(new CoordinatorError("aborted", msg));
      this.o.log.warn("checkpoint_abandoned", {
        step,
        generation: this.o.generation,
        workerId,
        missing,
      });
      throw new CoordinatorError("failed-precondition", msg);
    }
    return new Promise<CommittedCheckpoint>((resolve, reject) => {
      pending.votes.set(workerId, { resolve, reject });
      if (pending.votes.size === this.o.memberCount) this.commit(step, pending);
    });
  }

  /** Fails every waiting vote (the generation ended); nothing pending is committed. */
  failAll(why: Error): void {
    for (const p of this.pending.values()) for (const v of p.votes.values()) v.reject(why);
  }

  /** The pending checkpoint at `step`, created on first use, or a refusal if `step` is closed. */
  private open(step: number): PendingCheckpoint {
    if (this.abandoned.has(step)) {
      throw new CoordinatorError(
        "aborted",
        `checkpoint at step ${step} was abandoned (a part was missing); write the next one`,
      );
    }
    const latest = this.o.latestCommittedStep();
    if (latest !== undefined && step <= latest) {
      throw new CoordinatorError(
        "failed-precondition",
        `checkpoint at step ${step}: step ${latest} is already committed; checkpoints must move forward`,
      );
    }
    let p = this.pending.get(step);
    if (!p) {
      p = { parts: new Map(), votes: new Map(), startedAtMs: this.now() };
      this.pending.set(step, p);
    }
    return p;
  }

  private commit(step: number, p: PendingCheckpoint): void {
    this.pending.delete(step);
    const parts = [...p.parts.values()]
      .map(({ name, uri, size, sha256 }) => ({ name, uri, size, sha256 }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const c: CommittedCheckpoint = {
      step,
      generation: this.o.generation,
      parts,
      committedAtUnixMs: this.now(),
    };
    let recorded: Promise<void> | void;
    try {
      recorded = this.o.onCommitted(c, p.startedAtMs);
    } catch (err) {
      recorded = Promise.reject(err);
    }
    Promise.resolve(recorded).then(
      () => {
        for (const v of p.votes.values()) v.resolve(c);
      },
      (err: unknown) => {
        const msg =
          `checkpoint at step ${step}: its parts are stored but the run state could not be saved ` +
          `(${(err as Error).message}); not acknowledged, write the next one`;
        this.o.log.error("checkpoint_commit_not_durable", { step, generation: this.o.generation, err });
        for (const v of p.votes.values()) v.reject(new CoordinatorError("unavailable", msg));
      },
    );
  }
}

// Rendezvous rounds, after torch elastic's c10d dynamic rendezvous: joins wait here; a round closes
// when maxWorkers have joined, or when at least minWorkers have joined and lastCallMs passed since
// the latest join. A join that no round takes within joinTimeoutMs fails. Whether a round may close
// at all (no generation running) and what forming a generation means are the caller's: see the
// hooks in RendezvousOptions.
import type { CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import { CoordinatorError } from "./errors.js";
import type { ResolvedCoordinatorOptions } from "./options.js";
import { assignRanks } from "./rank-assignment.js";

export interface Member {
  workerId: string;
  rank: number;
  collectiveAddress: string;
}

/** What a join resolves with: the worker's place in the generation that formed. */
export interface Placement {
  generation: number;
  rank: number;
  worldSize: number;
  peers: string[];
  resumeFrom: CommittedCheckpoint | null;
}

export interface RendezvousOptions extends Pick<
  ResolvedCoordinatorOptions,
  "minWorkers" | "maxWorkers" | "joinTimeoutMs" | "lastCallMs"
> {
  /** Whether a round may close now (no generation is running and the coordinator is open). */
  canClose(): boolean;
  /**
   * Forms the generation of a closed round (members in rank order; openedAtMs: the earliest of
   * their joins). Returns its number and the checkpoint its members resume from.
   */
  formGeneration(
    members: Member[],
    openedAtMs: number,
  ): { generation: number; resumeFrom: CommittedCheckpoint | null };
}

interface Waiter {
  workerId: string;
  collectiveAddress: string;
  joinedAtMs: number;
  resolve: (p: Placement) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class Rendezvous {
  private readonly waiting = new Map<string, Waiter>();
  /** Ranks of the most recent generation, so ranks stay stable across generations. */
  private lastRanks = new Map<string, number>();
  private lastCallTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: RendezvousOptions) {}

  /** Workers whose join is waiting for the next round, in arrival order. */
  waitingWorkers(): string[] {
    return [...this.waiting.keys()];
  }

  /**
   * Registers a join; resolves with the worker's placement once a round takes it. The caller
   * decides what the join means for a running generation, then calls evaluate() (directly or by
   * ending that generation).
   */
  wait(workerId: string, collectiveAddress: string): Promise<Placement> {
    return new Promise<Placement>((resolve, reject) => {
      const timer = setTimeout(() => {
        const w = this.waiting.get(workerId);
        if (w && w.timer === timer) {
          this.drop(
            workerId,
            new CoordinatorError(
              "deadline-exceeded",
              `worker ${workerId}: no generation closed within the join timeout of ${this.o.joinTimeoutMs} ms ` +
                `(waiting: ${this.waiting.size}, min ${this.o.minWorkers})`,
            ),
          );
        }
      }, this.o.joinTimeoutMs);
      timer.unref();
      this.waiting.set(workerId, {
        workerId,
        collectiveAddress,
        joinedAtMs: Date.now(),
        resolve,
        reject,
        timer,
      });
    });
  }

  /** Fails `workerId`'s waiting join, if it has one, and re-evaluates the round without it. */
  drop(workerId: string, why: Error): void {
    const w = this.waiting.get(workerId);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(workerId);
    w.reject(why);
    this.evaluate();
  }

  /** Closes the round if it is full, or (re)starts its last call once min workers are in. */
  evaluate(): void {
    if (!this.o.canClose()) return;
    const n = this.waiting.size;
    if (n >= this.o.maxWorkers) {
      this.closeRound();
    } else if (n >= this.o.minWorkers) {
      // torch: the last-call deadline moves with every join once min is reached.
      if (this.lastCallTimer) clearTimeout(this.lastCallTimer);
      this.lastCallTimer = setTimeout(() => {
        this.lastCallTimer = null;
        if (this.o.canClose() && this.waiting.size >= this.o.minWorkers) this.closeRound();
      }, this.o.lastCallMs);
      this.lastCallTimer.unref();
    } else if (this.lastCallTimer) {
      clearTimeout(this.lastCallTimer);
      this.lastCallTimer = null;
    }
  }

  private closeRound(): void {
    if (this.lastCallTimer) clearTimeout(this.lastCallTimer);
    this.lastCallTimer = null;
    const ranked = assignRanks([...this.waiting.values()], this.lastRanks, this.o);
    const members: Member[] = ranked
      .map(({ worker, rank }) => ({
        workerId: worker.workerId,
        rank,
        collectiveAddress: worker.collectiveAddress,
      }))
      .sort((a, b) => a.rank - b.rank);
    this.lastRanks = new Map(members.map((m) => [m.workerId, m.rank]));
    const openedAtMs = Math.min(...ranked.map(({ worker }) => worker.joinedAtMs));
    const { generation, resumeFrom } = this.o.formGeneration(members, openedAtMs);
    const peers = members.map((m) => m.collectiveAddress);
    for (const { worker, rank } of ranked) {
      clearTimeout(worker.timer);
      this.waiting.delete(worker.workerId);
      worker.resolve({ generation, rank, worldSize: members.length, peers, resumeFrom });
    }
  }

  /** Fails every waiting join with `why` and forms no further round (the coordinator is closing). */
  close(why: Error): void {
    if (this.lastCallTimer) clearTimeout(this.lastCallTimer);
    this.lastCallTimer = null;
    for (const w of [...this.waiting.values()]) {
      clearTimeout(w.timer);
      this.waiting.delete(w.workerId);
      w.reject(why);
    }
  }
}

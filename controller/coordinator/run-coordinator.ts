// One run's coordination state: rendezvous rounds closing into generations, member sessions and
// failure detection, barriers, and the two-phase checkpoint commit. Transport-free: the gRPC
// service (server.ts) authenticates calls and hands typed requests here; refusals are thrown as
// CoordinatorError (errors.ts), which the service maps to gRPC status codes.
//
// Rendezvous follows torch elastic's c10d dynamic rendezvous: a round closes when maxWorkers have
// joined, or when at least minWorkers have joined and lastCallMs passed since the latest join; a
// join arriving while a generation runs waits for the next round.
import type { CheckpointPartRecord, CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import type { RunStateFile } from "./state-file.js";
import { mergeRunStates, type PersistedRunState } from "./persisted-state.js";
import { CoordinatorError } from "./errors.js";
import type { Logger } from "../../common/log.js";
import type { NatsBridge, RunEventType } from "./nats-bridge.js";
import type { CoordinatorMetrics } from "./metrics.js";
import type { ResolvedCoordinatorOptions } from "./options.js";

/** A checkpoint part and a committed checkpoint: the shapes the coordinator client receives. */
export type Part = CheckpointPartRecord;
export type { CommittedCheckpoint };

export interface Placement {
  generation: number;
  rank: number;
  worldSize: number;
  peers: string[];
  resumeFrom: CommittedCheckpoint | null;
}

export type SessionEventOut =
  | { kind: "accepted"; accepted: { heartbeatIntervalMs: number; generation: number } }
  | { kind: "generationEnded"; generationEnded: { generation: number; reason: string; workerId: string } }
  | { kind: "checkpointCommitted"; checkpointCommitted: { checkpoint: CommittedCheckpoint } }
  | { kind: "heartbeatAck"; heartbeatAck: { generation: number } };

/** What the coordinator needs of a worker's open session stream. */
export interface SessionSink {
  send(ev: SessionEventOut): void;
  /** Ends the stream from the coordinator's side, telling the worker why. */
  close(why: CoordinatorError): void;
}

export interface ProgressSnapshot {
  workerId: string;
  generation: number;
  step: number;
  totalSteps: number;
  loss: number;
  lmLoss: number;
  clsLoss: number;
  learningRate: number;
  samplesPerSecond: number;
  phase: string;
  message: string;
  evaluation: Record<string, number>;
  atUnixMs: number;
}

interface Session {
  id: number;
  workerId: string;
  sink: SessionSink;
  lastHeartbeatMs: number;
}

interface Waiter {
  workerId: string;
  collectiveAddress: string;
  joinedAtMs: number;
  resolve: (p: Placement) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface Member {
  workerId: string;
  rank: number;
  collectiveAddress: string;
}

interface Barrier {
  arrived: Map<string, { resolve: () => void; reject: (e: Error) => void }>;
}

interface PendingCheckpoint {
  parts: Map<string, Part & { reportedBy: string }>;
  votes: Map<string, { resolve: (c: CommittedCheckpoint) => void; reject: (e: Error) => void }>;
  startedAtMs: number;
}

interface Generation {
  number: number;
  members: Member[];
  byId: Map<string, Member>;
  barriers: Map<string, Barrier>;
  checkpoints: Map<number, PendingCheckpoint>;
  abandonedSteps: Set<number>;
}

const SHA256 = /^[0-9a-f]{64}$/;

export class RunCoordinator {
  readonly runId: string;
  private readonly sessions = new Map<string, Session>();
  private nextSessionId = 1;
  private readonly waiting = new Map<string, Waiter>();
  private current: Generation | null = null;
  /** Ranks of the most recent generation, so ranks stay stable across generations. */
  private lastRanks = new Map<string, number>();
  private generationCounter = 0;
  private restartCount = 0;
  private checkpoints: CommittedCheckpoint[] = [];
  private lastCallTimer: NodeJS.Timeout | null = null;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly progressByWorker = new Map<string, ProgressSnapshot>();
  private phase = "";
  private closed = false;

  constructor(
    readonly options: ResolvedCoordinatorOptions,
    private readonly nats: NatsBridge | null,
    private readonly metrics: CoordinatorMetrics,
    private readonly log: Logger,
    restored: PersistedRunState | null,
    private readonly stateFile: RunStateFile | null = null,
  ) {
    this.runId = options.runId;
    // Counters exist (at zero) from the start, so dashboards and alerts see a series before the
    // first failure, drop or commit.
    for (const cause of ["stream_closed", "heartbeat_missed"])
      metrics.failuresDetected.inc({ run: this.runId, cause }, 0);
    metrics.eventsDropped.inc({ run: this.runId }, 0);
    metrics.checkpointsCommitted.inc({ run: this.runId }, 0);
    if (restored) {
      this.generationCounter = restored.generation;
      this.restartCount = restored.restartCount + 1;
      this.checkpoints = restored.checkpoints;
      this.log.info("run_state_restored", {
        generation: this.generationCounter,
        restartCount: this.restartCount,
        checkpoints: this.checkpoints.length,
      });
      this.persist();
    }
    this.metrics.generation.set({ run: this.runId }, this.generationCounter);
    this.metrics.workersAlive.set({ run: this.runId }, 0);
    // Checking at half the interval bounds detection at heartbeatTimeoutMs + interval/2.
    this.heartbeatTimer = setInterval(
      () => this.checkHeartbeats(),
      Math.max(10, options.heartbeatIntervalMs / 2),
    );
    this.heartbeatTimer.unref();
  }

  /**
   * NATS came up only after this coordinator started: merge what an earlier coordinator saved, so
   * its committed checkpoints and generation numbers are not overwritten.
   */
  mergeRestored(saved: PersistedRunState | null): void {
    if (saved) {
      const merged = mergeRunStates(
        saved,
        {
          runId: this.runId,
          generation: this.generationCounter,
          restartCount: this.restartCount - 1,
          checkpoints: this.checkpoints,
        },
        this.options.keepCheckpoints,
      )!;
      this.generationCounter = merged.generation;
      this.restartCount = merged.restartCount + 1;
      this.checkpoints = merged.checkpoints;
      this.metrics.generation.set({ run: this.runId }, this.generationCounter);
      this.log.info("run_state_merged", {
        generation: this.generationCounter,
        restartCount: this.restartCount,
        checkpoints: this.checkpoints.length,
      });
    }
    this.persist();
  }

  // ---------------------------------------------------------------- queries for the controller

  get generation(): number {
    return this.generationCounter;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** Members of the running generation, in rank order (empty between generations). */
  members(): { workerId: string; rank: number; collectiveAddress: string }[] {
    return this.current ? this.current.members.map((m) => ({ ...m })) : [];
  }

  /** Workers whose join is waiting for the next generation. */
  waitingWorkers(): string[] {
    return [...this.waiting.keys()];
  }

  aliveWorkers(): string[] {
    return [...this.sessions.keys()];
  }

  progress(): ProgressSnapshot[] {
    return [...this.progressByWorker.values()];
  }

  latestCheckpoint(): CommittedCheckpoint | null {
    return this.checkpoints.at(-1) ?? null;
  }

  listCheckpoints(): CommittedCheckpoint[] {
    return [...this.checkpoints].reverse();
  }

  // ---------------------------------------------------------------- admission

  checkWorkerId(workerId: string): void {
    if (!workerId)
      throw new CoordinatorError("invalid-argument", "worker_id is empty; every request names its worker");
    const allowed = this.options.allowedWorkerIds;
    if (allowed && !allowed.includes(workerId)) {
      throw new CoordinatorError(
        "permission-denied",
        `worker ${JSON.stringify(workerId)} is not part of run ${this.runId}; check the worker's RADFLEET worker id`,
      );
    }
  }

  /** The running generation `generation` with `workerId` a member of it, or a refusal. */
  private memberOf(workerId: string, generation: number, what: string): Generation {
    this.checkWorkerId(workerId);
    const g = this.current;
    if (!g || g.number !== generation) {
      throw new CoordinatorError(
        "failed-precondition",
        `${what}: generation ${generation} is not the running generation of run ${this.runId} ` +
          `(running: ${g ? g.number : "none"}); abandon the step and rejoin`,
      );
    }
    if (!g.byId.has(workerId)) {
      throw new CoordinatorError(
        "permission-denied",
        `${what}: worker ${JSON.stringify(workerId)} is not a member of generation ${generation}; rejoin`,
      );
    }
    return g;
  }

  // ---------------------------------------------------------------- sessions and failure detection

  /** Registers a worker's session stream; returns a handle the service passes back on events. */
  openSession(workerId: string, sink: SessionSink): number {
    this.checkWorkerId(workerId);
    const prev = this.sessions.get(workerId);
    const id = this.nextSessionId++;
    this.sessions.set(workerId, { id, workerId, sink, lastHeartbeatMs: Date.now() });
    if (prev) {
      // The same worker id reconnected (a restarted process): the old stream is dead weight.
      prev.sink.close(
        new CoordinatorError("aborted", `session replaced by a newer session of worker ${workerId}`),
      );
      if (this.current?.byId.has(workerId)) this.endGeneration("worker_rejoined", workerId);
    }
    this.metrics.workersAlive.set({ run: this.runId }, this.sessions.size);
    sink.send({
      kind: "accepted",
      accepted: { heartbeatIntervalMs: this.options.heartbeatIntervalMs, generation: this.generationCounter },
    });
    return id;
  }

  heartbeat(workerId: string, sessionId: number, generation: number): void {
    const s = this.sessions.get(workerId);
    if (!s || s.id !== sessionId) return;
    s.lastHeartbeatMs = Date.now();
    const g = this.current;
    if (generation !== 0 && (!g || g.number !== generation || !g.byId.has(workerId))) {
      // The worker missed the end of its generation (or its event is still in flight): tell it again.
      s.sink.send({
        kind: "generationEnded",
        generationEnded: { generation, reason: "stale_generation", workerId: "" },
      });
    } else {
      s.sink.send({ kind: "heartbeatAck", heartbeatAck: { generation } });
    }
  }

  /** The worker's stream closed (process died, network gone, or it closed it). */
  sessionClosed(workerId: string, sessionId: number, why: string): void {
    const s = this.sessions.get(workerId);
    if (!s || s.id !== sessionId) return;
    this.sessions.delete(workerId);
    this.metrics.workersAlive.set({ run: this.runId }, this.sessions.size);
    const w = this.waiting.get(workerId);
    if (w)
      this.dropWaiter(
        w,
        new CoordinatorError("cancelled", `worker ${workerId}: session closed while joining`),
      );
    if (this.current?.byId.has(workerId) && !this.closed) {
      this.metrics.failuresDetected.inc({ run: this.runId, cause: "stream_closed" });
      this.log.warn("worker_lost", {
        workerId,
        generation: this.current.number,
        cause: "stream_closed",
        why,
      });
      this.publish("worker_lost", { workerId, generation: this.current.number, cause: "stream_closed" });
      this.endGeneration("worker_lost", workerId);
    }
  }

  /**
   * Every open session must heartbeat, not only the current generation's members: a worker that
   * froze while waiting to join would otherwise be placed in the next generation and take it down.
   */
  private checkHeartbeats(): void {
    const g = this.current;
    const now = Date.now();
    for (const [workerId, s] of this.sessions) {
      const silentMs = now - s.lastHeartbeatMs;
      if (silentMs <= this.options.heartbeatTimeoutMs) continue;
      const member = g?.byId.has(workerId) ?? false;
      this.metrics.failuresDetected.inc({ run: this.runId, cause: "heartbeat_missed" });
      // Its generation: the running one if it was a member, none if it was waiting or between.
      const generation = member ? g!.number : null;
      this.log.warn("worker_lost", { workerId, generation, member, cause: "heartbeat_missed" });
      this.publish("worker_lost", { workerId, generation, cause: "heartbeat_missed" });
      this.sessions.delete(workerId);
      this.metrics.workersAlive.set({ run: this.runId }, this.sessions.size);
      s.sink.close(
        new CoordinatorError(
          "deadline-exceeded",
          `no heartbeat from worker ${workerId} for ${silentMs} ms ` +
            `(timeout ${this.options.heartbeatTimeoutMs} ms); rejoin`,
        ),
      );
      const w = this.waiting.get(workerId);
      if (w)
        this.dropWaiter(
          w,
          new CoordinatorError(
            "aborted",
            `worker ${workerId}: no heartbeat for ${silentMs} ms while joining; rejoin`,
          ),
        );
      if (member) {
        this.endGeneration("heartbeat_missed", workerId);
        return;
      }
    }
  }

  // ---------------------------------------------------------------- rendezvous

  join(workerId: string, collectiveAddress: string): Promise<Placement> {
    this.checkWorkerId(workerId);
    if (!collectiveAddress) {
      throw new CoordinatorError("invalid-argument", `worker ${workerId}: collective_address is empty`);
    }
    if (!this.sessions.has(workerId)) {
      throw new CoordinatorError(
        "failed-precondition",
        `worker ${workerId} has no open session stream; open Session and send Hello before Join`,
      );
    }
    if (this.closed)
      throw new CoordinatorError("unavailable", `coordinator of run ${this.runId} is shutting down`);
    const old = this.waiting.get(workerId);
    if (old)
      this.dropWaiter(
        old,
        new CoordinatorError("aborted", `superseded by a newer join of worker ${workerId}`),
      );
    this.publish("worker_joined", { workerId, collectiveAddress });
    return new Promise<Placement>((resolve, reject) => {
      const timer = setTimeout(() => {
        const w = this.waiting.get(workerId);
        if (w && w.timer === timer) {
          this.dropWaiter(
            w,
            new CoordinatorError(
              "deadline-exceeded",
              `worker ${workerId}: no generation closed within the join timeout of ${this.options.joinTimeoutMs} ms ` +
                `(waiting: ${this.waiting.size}, min ${this.options.minWorkers})`,
            ),
          );
        }
      }, this.options.joinTimeoutMs);
      timer.unref();
      this.waiting.set(workerId, {
        workerId,
        collectiveAddress,
        joinedAtMs: Date.now(),
        resolve,
        reject,
        timer,
      });
      const g = this.current;
      if (g?.byId.has(workerId)) {
        // A member joining again has restarted or given up on its generation: that generation is over.
        this.endGeneration("worker_rejoined", workerId);
      } else if (g && this.options.admitLateJoiners && g.members.length < this.options.maxWorkers) {
        // torch elastic's agents restart when nodes are waiting and there is room: do the same.
        this.endGeneration("worker_waiting", workerId);
      } else {
        this.evaluateRound();
      }
    });
  }

  /** A join call went away (client cancelled or its deadline passed). */
  joinCancelled(workerId: string): void {
    const w = this.waiting.get(workerId);
    if (w)
      this.dropWaiter(
        w,
        new CoordinatorError("cancelled", `worker ${workerId}: join cancelled by the caller`),
      );
  }

  private dropWaiter(w: Waiter, err: Error): void {
    clearTimeout(w.timer);
    this.waiting.delete(w.workerId);
    w.reject(err);
    this.evaluateRound();
  }

  private evaluateRound(): void {
    if (this.current || this.closed) return;
    const n = this.waiting.size;
    if (n >= this.options.maxWorkers) {
      this.closeRound();
    } else if (n >= this.options.minWorkers) {
      // torch: the last-call deadline moves with every join once min is reached.
      if (this.lastCallTimer) clearTimeout(this.lastCallTimer);
      this.lastCallTimer = setTimeout(() => {
        this.lastCallTimer = null;
        if (!this.current && this.waiting.size >= this.options.minWorkers) this.closeRound();
      }, this.options.lastCallMs);
      this.lastCallTimer.unref();
    } else if (this.lastCallTimer) {
      clearTimeout(this.lastCallTimer);
      this.lastCallTimer = null;
    }
  }

  private closeRound(): void {
    if (this.lastCallTimer) clearTimeout(this.lastCallTimer);
    this.lastCallTimer = null;
    const waiters = [...this.waiting.values()];
    // Previous members first (in their old rank order), then newcomers in arrival order.
    const prev = waiters.filter((w) => this.lastRanks.has(w.workerId));
    prev.sort((a, b) => this.lastRanks.get(a.workerId)! - this.lastRanks.get(b.workerId)!);
    const fresh = waiters.filter((w) => !this.lastRanks.has(w.workerId));
    const chosen = [...prev, ...fresh].slice(0, this.options.maxWorkers);
    const size = chosen.length;
    // A previous member keeps its rank when it still exists; the others fill the free ranks in order.
    const ranks = new Map<string, number>();
    const taken = new Set<number>();
    for (const w of chosen) {
      const r = this.lastRanks.get(w.workerId);
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
    const members: Member[] = chosen
      .map((w) => ({
        workerId: w.workerId,
        rank: ranks.get(w.workerId)!,
        collectiveAddress: w.collectiveAddress,
      }))
      .sort((a, b) => a.rank - b.rank);
    this.generationCounter++;
    const g: Generation = {
      number: this.generationCounter,
      members,
      byId: new Map(members.map((m) => [m.workerId, m])),
      barriers: new Map(),
      checkpoints: new Map(),
      abandonedSteps: new Set(),
    };
    this.current = g;
    this.lastRanks = new Map(members.map((m) => [m.workerId, m.rank]));
    const openedAt = Math.min(...chosen.map((w) => w.joinedAtMs));
    this.metrics.rendezvousDuration.observe({ run: this.runId }, (Date.now() - openedAt) / 1000);
    this.metrics.generation.set({ run: this.runId }, g.number);
    this.persist();
    this.log.info("generation_started", { generation: g.number, worldSize: size });
    this.publish("generation_started", {
      generation: g.number,
      worldSize: size,
      workerIds: members.map((m) => m.workerId),
    });
    const peers = members.map((m) => m.collectiveAddress);
    const resumeFrom = this.latestCheckpoint();
    for (const w of chosen) {
      clearTimeout(w.timer);
      this.waiting.delete(w.workerId);
      w.resolve({
        generation: g.number,
        rank: ranks.get(w.workerId)!,
        worldSize: size,
        peers,
        resumeFrom,
      });
    }
  }

  /** Ends the running generation and tells every member that still has a session, at once. */
  endGeneration(reason: string, workerId = ""): void {
    const g = this.current;
    if (!g) return;
    this.current = null;
    const err = new CoordinatorError(
      "aborted",
      `generation ${g.number} ended (${reason}${workerId ? `: ${workerId}` : ""}); rejoin`,
    );
    for (const b of g.barriers.values()) for (const w of b.arrived.values()) w.reject(err);
    for (const p of g.checkpoints.values()) for (const v of p.votes.values()) v.reject(err);
    const ev: SessionEventOut = {
      kind: "generationEnded",
      generationEnded: { generation: g.number, reason, workerId },
    };
    for (const m of g.members) this.sessions.get(m.workerId)?.sink.send(ev);
    this.log.info("generation_ended", { generation: g.number, reason, workerId });
    this.publish("generation_ended", { generation: g.number, reason, workerId });
    this.evaluateRound();
  }

  // ---------------------------------------------------------------- barrier

  barrier(workerId: string, generation: number, name: string): Promise<void> {
    const g = this.memberOf(workerId, generation, `barrier ${JSON.stringify(name)}`);
    let b = g.barriers.get(name);
    if (!b) {
      b = { arrived: new Map() };
      g.barriers.set(name, b);
    }
    const barrier = b;
    return new Promise<void>((resolve, reject) => {
      barrier.arrived
        .get(workerId)
        ?.reject(new CoordinatorError("aborted", `barrier ${name}: entered again by ${workerId}`));
      barrier.arrived.set(workerId, { resolve, reject });
      if (barrier.arrived.size === g.members.length) {
        g.barriers.delete(name);
        for (const w of barrier.arrived.values()) w.resolve();
      }
    });
  }

  barrierCancelled(workerId: string, generation: number, name: string): void {
    if (this.current?.number !== generation) return;
    this.current.barriers.get(name)?.arrived.delete(workerId);
  }

  // ---------------------------------------------------------------- two-phase checkpoint commit

  reportPart(workerId: string, generation: number, step: number, part: Part | null): void {
    const g = this.memberOf(workerId, generation, `checkpoint part at step ${step}`);
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
    this.checkStepOpen(g, step);
    let p = g.checkpoints.get(step);
    if (!p) {
      p = { parts: new Map(), votes: new Map(), startedAtMs: Date.now() };
      g.checkpoints.set(step, p);
    }
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

  private checkStepOpen(g: Generation, step: number): void {
    if (g.abandonedSteps.has(step)) {
      throw new CoordinatorError(
        "aborted",
        `checkpoint at step ${step} was abandoned (a part was missing); write the next one`,
      );
    }
    const latest = this.latestCheckpoint();
    if (latest && step <= latest.step) {
      throw new CoordinatorError(
        "failed-precondition",
        `checkpoint at step ${step}: step ${latest.step} is already committed; checkpoints must move forward`,
      );
    }
  }

  commit(
    workerId: string,
    generation: number,
    step: number,
    expectedParts: string[],
  ): Promise<CommittedCheckpoint> {
    const g = this.memberOf(workerId, generation, `checkpoint commit at step ${step}`);
    this.checkStepOpen(g, step);
    let p = g.checkpoints.get(step);
    if (!p) {
      p = { parts: new Map(), votes: new Map(), startedAtMs: Date.now() };
      g.checkpoints.set(step, p);
    }
    const pending = p;
    const missing = expectedParts.filter((n) => !pending.parts.has(n));
    if (missing.length > 0) {
      const msg =
        `checkpoint at step ${step}: worker ${workerId} declared parts that were never reported: ${missing.join(", ")}; ` +
        `the checkpoint is abandoned and will not be committed`;
      g.checkpoints.delete(step);
      g.abandonedSteps.add(step);
      for (const v of pending.votes.values()) v.reject(new CoordinatorError("aborted", msg));
      this.log.warn("checkpoint_abandoned", { step, generation, workerId, missing });
      throw new CoordinatorError("failed-precondition", msg);
    }
    return new Promise<CommittedCheckpoint>((resolve, reject) => {
      pending.votes.set(workerId, { resolve, reject });
      if (pending.votes.size === g.members.length) this.commitNow(g, step, pending);
    });
  }

  private commitNow(g: Generation, step: number, p: PendingCheckpoint): void {
    g.checkpoints.delete(step);
    const parts = [...p.parts.values()]
      .map(({ name, uri, size, sha256 }) => ({ name, uri, size, sha256 }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const c: CommittedCheckpoint = { step, generation: g.number, parts, committedAtUnixMs: Date.now() };
    this.checkpoints.push(c);
    if (this.checkpoints.length > this.options.keepCheckpoints) {
      this.checkpoints.splice(0, this.checkpoints.length - this.options.keepCheckpoints);
    }
    this.metrics.checkpointCommitDuration.observe({ run: this.runId }, (Date.now() - p.startedAtMs) / 1000);
    this.metrics.checkpointsCommitted.inc({ run: this.runId });
    this.persist();
    this.log.info("checkpoint_committed", { step, generation: g.number, parts: parts.length });
    this.publish("checkpoint_committed", { ...c });
    for (const v of p.votes.values()) v.resolve(c);
    const ev: SessionEventOut = { kind: "checkpointCommitted", checkpointCommitted: { checkpoint: c } };
    for (const m of g.members) this.sessions.get(m.workerId)?.sink.send(ev);
  }

  // ---------------------------------------------------------------- progress and leaving

  reportProgress(p: Omit<ProgressSnapshot, "atUnixMs">): void {
    this.checkWorkerId(p.workerId);
    const snap = { ...p, atUnixMs: Date.now() };
    this.progressByWorker.set(p.workerId, snap);
    for (const l of this.progressListeners) l(snap);
    const rank = this.current?.byId.get(p.workerId)?.rank;
    if (rank === 0) this.publish("progress", { ...snap });
    if (Object.keys(p.evaluation).length > 0) {
      this.publish("evaluation_completed", {
        workerId: p.workerId,
        step: p.step,
        generation: p.generation,
        metrics: p.evaluation,
      });
    }
    // The run's phase is rank 0's; a worker outside the generation (waiting, or left over from
    // an ended one) does not set it.
    if (p.phase && p.phase !== this.phase && rank === 0) {
      this.phase = p.phase;
      this.publish("run_phase", { phase: p.phase, step: p.step, message: p.message });
    }
  }

  /** Called with every progress report, as it arrives. */
  onProgress(listener: (p: ProgressSnapshot) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  private readonly progressListeners = new Set<(p: ProgressSnapshot) => void>();

  /** Calls `listener` whenever a worker leaves the run (done, stopped or failed). */
  onLeave(listener: (workerId: string, reason: string, message: string) => void): () => void {
    this.leaveListeners.add(listener);
    return () => this.leaveListeners.delete(listener);
  }

  private readonly leaveListeners = new Set<(workerId: string, reason: string, message: string) => void>();

  leave(workerId: string, reason: string, message: string): void {
    this.checkWorkerId(workerId);
    this.log.info("worker_left", { workerId, reason, message });
    for (const l of this.leaveListeners) l(workerId, reason, message);
    const w = this.waiting.get(workerId);
    if (w) this.dropWaiter(w, new CoordinatorError("cancelled", `worker ${workerId} left`));
    if (this.current?.byId.has(workerId)) this.endGeneration("worker_left", workerId);
  }

  // ---------------------------------------------------------------- state and events

  private persist(): void {
    const state: PersistedRunState = {
      runId: this.runId,
      generation: this.generationCounter,
      restartCount: this.restartCount,
      checkpoints: this.checkpoints,
    };
    void this.nats?.saveState(state);
    this.stateFile?.save(state);
  }

  private publish(type: RunEventType, payload: Record<string, unknown>): void {
    // Without a NATS URL there is nowhere to publish; that is configuration, not a drop.
    this.nats?.publish(type, payload);
  }

  /** Fails every waiting call and ends every session; the run state stays in KV for a successor. */
  close(): void {
    if (this.closed) return;
    // Closed first: ending the generation must not form the next one from the waiting workers.
    this.closed = true;
    this.endGeneration("coordinator_shutdown");
    clearInterval(this.heartbeatTimer);
    if (this.lastCallTimer) clearTimeout(this.lastCallTimer);
    const err = new CoordinatorError("unavailable", `coordinator of run ${this.runId} shut down; retry`);
    for (const w of [...this.waiting.values()]) {
      clearTimeout(w.timer);
      this.waiting.delete(w.workerId);
      w.reject(err);
    }
    for (const s of this.sessions.values()) s.sink.close(err);
    this.sessions.clear();
    this.metrics.workersAlive.set({ run: this.runId }, 0);
  }
}

// One run's coordination: wires sessions and heartbeats (sessions.ts), rendezvous rounds
// (rendezvous.ts, ranks from rank-assignment.ts), the running generation with its barriers and
// two-phase checkpoint commit (generation.ts), progress (progress-board.ts) and the saved run
// state (run-state.ts), and decides what each event means for the others: a lost member ends the
// generation, a new join may end it to be admitted, a closed round forms the next one.
//
// Transport-free: the gRPC service (server.ts) authenticates calls and hands typed requests here;
// refusals are thrown as CoordinatorError (errors.ts), which the service maps to gRPC statuses.
import type { CheckpointPartRecord, CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import type { Logger } from "../../common/log.js";
import { checkWorkerId, requireMember } from "./admission.js";
import { CoordinatorError } from "./errors.js";
import { Generation } from "./generation.js";
import type { CoordinatorMetrics } from "./metrics.js";
import type { NatsBridge, RunEventType } from "./nats-bridge.js";
import type { ResolvedCoordinatorOptions } from "./options.js";
import type { PersistedRunState } from "./persisted-state.js";
import type { WorkerProgress } from "../../common/progress.js";
import { ProgressBoard } from "./progress-board.js";
import { runProgressRecord } from "./progress-record.js";
import { Rendezvous, type Member, type Placement } from "./rendezvous.js";
import { RunState } from "./run-state.js";
import { Sessions, type SessionEventOut, type SessionSink } from "./sessions.js";
import type { RunStateFile } from "./state-file.js";

/** A checkpoint part and a committed checkpoint: the shapes the coordinator client receives. */
export type Part = CheckpointPartRecord;
export type { CommittedCheckpoint };

type LeaveListener = (workerId: string, reason: string, message: string) => void;

export class RunCoordinator {
  readonly runId: string;
  private readonly state: RunState;
  private readonly sessions: Sessions;
  private readonly rendezvous: Rendezvous;
  private readonly progressBoard: ProgressBoard;
  private lastEvaluation: Record<string, number> | undefined;
  private readonly leaveListeners = new Set<LeaveListener>();
  private current: Generation | null = null;
  private closed = false;

  constructor(
    readonly options: ResolvedCoordinatorOptions,
    private readonly nats: NatsBridge | null,
    private readonly metrics: CoordinatorMetrics,
    private readonly log: Logger,
    restored: PersistedRunState | null,
    stateFile: RunStateFile | null = null,
  ) {
    this.runId = options.runId;
    const run = { run: this.runId };
    // Counters exist (at zero) from the start, so dashboards and alerts see a series before the
    // first failure, drop or commit.
    for (const cause of ["stream_closed", "heartbeat_missed"])
      metrics.failuresDetected.inc({ run: this.runId, cause }, 0);
    metrics.eventsDropped.inc(run, 0);
    metrics.checkpointsCommitted.inc(run, 0);
    this.state = new RunState({
      runId: this.runId,
      keepCheckpoints: options.keepCheckpoints,
      log,
      // Durable once the state file (when there is one) is on disk and KV (while NATS is up)
      // acknowledged it. With NATS down the run goes on, as it was made to, and KV catches up.
      save: async (s) => {
        await Promise.all([nats?.saveState(s), stateFile?.save(s)]);
      },
    });
    if (restored) this.state.restore(restored);
    metrics.generation.set(run, this.state.generation);
    metrics.workersAlive.set(run, 0);
    this.sessions = new Sessions({
      ...options,
      onSilent: (workerId, silentMs) => this.heartbeatMissed(workerId, silentMs),
      onCountChanged: (n) => metrics.workersAlive.set(run, n),
    });
    this.rendezvous = new Rendezvous({
      ...options,
      canClose: () => !this.current && !this.closed,
      formGeneration: (members, openedAtMs) => this.formGeneration(members, openedAtMs),
    });
    this.progressBoard = new ProgressBoard({
      rankOf: (workerId) => this.current?.rankOf(workerId),
      publish: (type, payload) => this.publish(type, payload),
    });
  }

  /**
   * NATS came up only after this coordinator started: merge what an earlier coordinator saved, so
   * its committed checkpoints and generation numbers are not overwritten.
   */
  mergeRestored(saved: PersistedRunState | null): void {
    this.state.merge(saved);
    if (saved) this.metrics.generation.set({ run: this.runId }, this.state.generation);
  }

  // ---------------------------------------------------------------- queries for the controller

  get generation(): number {
    return this.state.generation;
  }

  get restarts(): number {
    return this.state.restarts;
  }

  /** Members of the running generation, in rank order (empty between generations). */
  members(): Member[] {
    return this.current ? this.current.members.map((m) => ({ ...m })) : [];
  }

  /** Workers whose join is waiting for the next generation. */
  waitingWorkers(): string[] {
    return this.rendezvous.waitingWorkers();
  }

  aliveWorkers(): string[] {
    return this.sessions.workerIds();
  }

  progress(): WorkerProgress[] {
    return this.progressBoard.all();
  }

  latestCheckpoint(): CommittedCheckpoint | null {
    return this.state.latestCheckpoint();
  }

  listCheckpoints(): CommittedCheckpoint[] {
    return this.state.listCheckpoints();
  }

  // ---------------------------------------------------------------- admission

  checkWorkerId(workerId: string): void {
    checkWorkerId(this.runId, this.options.allowedWorkerIds, workerId);
  }

  /** The running generation `generation` with `workerId` a member of it, or a refusal. */
  private memberOf(workerId: string, generation: number, what: string): Generation {
    this.checkWorkerId(workerId);
    return requireMember(this.runId, this.current, workerId, generation, what);
  }

  // ---------------------------------------------------------------- sessions and failure detection

  /** Registers a worker's session stream; returns a handle the service passes back on events. */
  openSession(workerId: string, sink: SessionSink): number {
    this.checkWorkerId(workerId);
    const { id, replaced } = this.sessions.open(workerId, sink);
    if (replaced && this.current?.has(workerId)) this.endGeneration("worker_rejoined", workerId);
    sink.send({
      kind: "accepted",
      accepted: { heartbeatIntervalMs: this.options.heartbeatIntervalMs, generation: this.state.generation },
    });
    return id;
  }

  heartbeat(workerId: string, sessionId: number, generation: number): void {
    const sink = this.sessions.heartbeat(workerId, sessionId);
    if (!sink) return;
    const g = this.current;
    if (generation !== 0 && (!g || g.number !== generation || !g.has(workerId))) {
      // The worker missed the end of its generation (or its event is still in flight): tell it again.
      sink.send({
        kind: "generationEnded",
        generationEnded: { generation, reason: "stale_generation", workerId: "" },
      });
    } else {
      sink.send({ kind: "heartbeatAck", heartbeatAck: { generation } });
    }
  }

  /** The worker's stream closed (process died, network gone, or it closed it). */
  sessionClosed(workerId: string, sessionId: number, why: string): void {
    if (!this.sessions.closed(workerId, sessionId)) return;
    this.rendezvous.drop(
      workerId,
      new CoordinatorError("cancelled", `worker ${workerId}: session closed while joining`),
    );
    const g = this.current;
    if (g?.has(workerId) && !this.closed) {
      this.metrics.failuresDetected.inc({ run: this.runId, cause: "stream_closed" });
      this.log.warn("worker_lost", { workerId, generation: g.number, cause: "stream_closed", why });
      this.publish("worker_lost", { workerId, generation: g.number, cause: "stream_closed" });
      this.endGeneration("worker_lost", workerId);
    }
  }

  private heartbeatMissed(workerId: string, silentMs: number): "continue" | "stop" {
    const g = this.current;
    const member = g?.has(workerId) ?? false;
    this.metrics.failuresDetected.inc({ run: this.runId, cause: "heartbeat_missed" });
    // Its generation: the running one if it was a member, none if it was waiting or between.
    const generation = member ? g!.number : null;
    this.log.warn("worker_lost", { workerId, generation, member, cause: "heartbeat_missed" });
    this.publish("worker_lost", { workerId, generation, cause: "heartbeat_missed" });
    this.sessions.drop(
      workerId,
      new CoordinatorError(
        "deadline-exceeded",
        `no heartbeat from worker ${workerId} for ${silentMs} ms ` +
          `(timeout ${this.options.heartbeatTimeoutMs} ms); rejoin`,
      ),
    );
    this.rendezvous.drop(
      workerId,
      new CoordinatorError(
        "aborted",
        `worker ${workerId}: no heartbeat for ${silentMs} ms while joining; rejoin`,
      ),
    );
    if (!member) return "continue";
    this.endGeneration("heartbeat_missed", workerId);
    return "stop";
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
    this.rendezvous.drop(
      workerId,
      new CoordinatorError("aborted", `superseded by a newer join of worker ${workerId}`),
    );
    this.publish("worker_joined", { workerId, collectiveAddress });
    const placed = this.rendezvous.wait(workerId, collectiveAddress);
    const g = this.current;
    if (g?.has(workerId)) {
      // A member joining again has restarted or given up on its generation: that generation is over.
      this.endGeneration("worker_rejoined", workerId);
    } else if (g && this.options.admitLateJoiners && g.members.length < this.options.maxWorkers) {
      // torch elastic's agents restart when nodes are waiting and there is room: do the same.
      this.endGeneration("worker_waiting", workerId);
    } else {
      this.rendezvous.evaluate();
    }
    return placed;
  }

  /** A join call went away (client cancelled or its deadline passed). */
  joinCancelled(workerId: string): void {
    this.rendezvous.drop(
      workerId,
      new CoordinatorError("cancelled", `worker ${workerId}: join cancelled by the caller`),
    );
  }

  private formGeneration(
    members: Member[],
    openedAtMs: number,
  ): { generation: number; resumeFrom: CommittedCheckpoint | null } {
    const g: Generation = new Generation(this.state.nextGeneration(), members, {
      latestCommittedStep: () => this.state.latestCheckpoint()?.step,
      onCommitted: (c, startedAtMs) => this.checkpointCommitted(g, c, startedAtMs),
      log: this.log,
    });
    this.current = g;
    this.metrics.rendezvousDuration.observe({ run: this.runId }, (Date.now() - openedAtMs) / 1000);
    this.metrics.generation.set({ run: this.runId }, g.number);
    this.log.info("generation_started", { generation: g.number, worldSize: members.length });
    this.publish("generation_started", {
      generation: g.number,
      worldSize: members.length,
      workerIds: members.map((m) => m.workerId),
    });
    return { generation: g.number, resumeFrom: this.latestCheckpoint() };
  }

  /** Ends the running generation and tells every member that still has a session, at once. */
  endGeneration(reason: string, workerId = ""): void {
    const g = this.current;
    if (!g) return;
    this.current = null;
    g.end(
      new CoordinatorError(
        "aborted",
        `generation ${g.number} ended (${reason}${workerId ? `: ${workerId}` : ""}); rejoin`,
      ),
    );
    const ev: SessionEventOut = {
      kind: "generationEnded",
      generationEnded: { generation: g.number, reason, workerId },
    };
    for (const m of g.members) this.sessions.send(m.workerId, ev);
    this.log.info("generation_ended", { generation: g.number, reason, workerId });
    this.publish("generation_ended", { generation: g.number, reason, workerId });
    this.rendezvous.evaluate();
  }

  // ---------------------------------------------------------------- barrier and checkpoints

  barrier(workerId: string, generation: number, name: string): Promise<void> {
    return this.memberOf(workerId, generation, `barrier ${JSON.stringify(name)}`).barriers.enter(
      workerId,
      name,
    );
  }

  barrierCancelled(workerId: string, generation: number, name: string): void {
    if (this.current?.number === generation) this.current.barriers.cancel(workerId, name);
  }

  reportPart(workerId: string, generation: number, step: number, part: Part | null): void {
    const g = this.memberOf(workerId, generation, `checkpoint part at step ${step}`);
    g.checkpoints.reportPart(workerId, step, part);
  }

  commit(
    workerId: string,
    generation: number,
    step: number,
    expectedParts: string[],
  ): Promise<CommittedCheckpoint> {
    const g = this.memberOf(workerId, generation, `checkpoint commit at step ${step}`);
    return g.checkpoints.vote(workerId, step, expectedParts);
  }

  private async checkpointCommitted(
    g: Generation,
    c: CommittedCheckpoint,
    startedAtMs: number,
  ): Promise<void> {
    await this.state.recordCommitted(c);
    this.metrics.checkpointCommitDuration.observe({ run: this.runId }, (Date.now() - startedAtMs) / 1000);
    this.metrics.checkpointsCommitted.inc({ run: this.runId });
    this.log.info("checkpoint_committed", { step: c.step, generation: g.number, parts: c.parts.length });
    this.publish("checkpoint_committed", { ...c });
    const ev: SessionEventOut = { kind: "checkpointCommitted", checkpointCommitted: { checkpoint: c } };
    for (const m of g.members) this.sessions.send(m.workerId, ev);
  }

  // ---------------------------------------------------------------- progress and leaving

  reportProgress(p: Omit<WorkerProgress, "atUnixMs">): void {
    this.checkWorkerId(p.workerId);
    const report = { ...p, atUnixMs: Date.now() };
    this.progressBoard.report(report);
    // Rank 0 speaks for the run: its reports become the record the Kubernetes status reads.
    if (!this.nats || this.current?.rankOf(p.workerId) !== 0) return;
    if (Object.keys(p.evaluation).length > 0) this.lastEvaluation = { ...p.evaluation };
    void this.nats.saveProgress(
      runProgressRecord(report, {
        generation: this.state.generation,
        worldSize: this.current.members.length,
        restarts: this.state.restarts,
        lastCheckpoint: this.state.latestCheckpoint(),
        lastEvaluation: this.lastEvaluation,
      }),
    );
  }

  /** Called with every progress report, as it arrives. */
  onProgress(listener: (p: WorkerProgress) => void): () => void {
    return this.progressBoard.onProgress(listener);
  }

  /** Calls `listener` whenever a worker leaves the run (done, stopped or failed). */
  onLeave(listener: LeaveListener): () => void {
    this.leaveListeners.add(listener);
    return () => this.leaveListeners.delete(listener);
  }

  leave(workerId: string, reason: string, message: string): void {
    this.checkWorkerId(workerId);
    this.log.info("worker_left", { workerId, reason, message });
    for (const l of this.leaveListeners) l(workerId, reason, message);
    this.rendezvous.drop(workerId, new CoordinatorError("cancelled", `worker ${workerId} left`));
    if (this.current?.has(workerId)) this.endGeneration("worker_left", workerId);
  }

  // ---------------------------------------------------------------- events and shutdown

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
    const err = new CoordinatorError("unavailable", `coordinator of run ${this.runId} shut down; retry`);
    this.rendezvous.close(err);
    this.sessions.close(err);
  }
}

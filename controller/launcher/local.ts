// The local launcher: one trainer child process per replica on this machine. A worker that exits
// with a failure is restarted under the same worker id (the coordinator treats it as a rejoin) after
// an exponential back-off, up to the restart policy's limit; beyond it the launch fails with the
// reason. Every child is stopped through the AbortSignal: SIGTERM (the trainer writes a final
// checkpoint), then SIGKILL after a grace period.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../common/log.js";

export interface WorkerCommand {
  /** Executable and arguments; env is merged over the launcher's environment. */
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface LocalLauncherOptions {
  workers: number;
  /** Builds the command for worker `workerId` (its restarts reuse the id). */
  commandFor(workerId: string, index: number): WorkerCommand;
  logDir: string;
  backoffLimit: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /**
   * Exit code with which a worker reports a failure that a restart cannot fix (a diverged run,
   * repeated non-finite losses): the launch fails at once instead of retrying.
   */
  permanentFailureCode?: number;
  /** Time between SIGTERM and SIGKILL when stopping. Default 60 s. */
  graceMs?: number;
  log: Logger;
  onEvent?: (e: LauncherEvent) => void;
}

export type LauncherEvent =
  | { type: "started"; workerId: string; pid: number; attempt: number }
  | { type: "exited"; workerId: string; code: number | null; signal: string | null; attempt: number }
  | { type: "restarting"; workerId: string; inMs: number; restarts: number };

export interface LaunchResult {
  ok: boolean;
  restarts: number;
  /** Why the launch failed (a worker beyond its back-off limit, or stopped). */
  reason?: string;
}

interface WorkerSlot {
  id: string;
  index: number;
  child?: ChildProcess;
  attempt: number;
  done: boolean;
  out?: WriteStream;
}

export class LocalLauncher {
  private readonly slots: WorkerSlot[] = [];
  private restarts = 0;
  private stopping = false;
  private finish!: (r: LaunchResult) => void;
  readonly done: Promise<LaunchResult>;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: LocalLauncherOptions) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Pids of the live workers, by worker id (tests kill them to inject failures). */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(
      this.slots.map((s) => [s.id, s.child?.exitCode === null ? s.child.pid : undefined]),
    );
  }

  get restartCount(): number {
    return this.restarts;
  }

  async start(signal?: AbortSignal): Promise<void> {
    await mkdir(this.o.logDir, { recursive: true });
    for (let i = 0; i < this.o.workers; i++) {
      const slot: WorkerSlot = { id: `worker-${i}`, index: i, attempt: 0, done: false };
      slot.out = createWriteStream(join(this.o.logDir, `${slot.id}.log`), { flags: "a" });
      this.slots.push(slot);
      this.spawn(slot);
    }
    signal?.addEventListener("abort", () => void this.stop("stopped"), { once: true });
  }

  private spawn(slot: WorkerSlot): void {
    const cmd = this.o.commandFor(slot.id, slot.index);
    const child = spawn(cmd.command, cmd.args, {
      env: { ...process.env, ...cmd.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    slot.child = child;
    slot.attempt += 1;
    child.stdout?.pipe(slot.out!, { end: false });
    child.stderr?.pipe(slot.out!, { end: false });
    this.o.onEvent?.({ type: "started", workerId: slot.id, pid: child.pid ?? -1, attempt: slot.attempt });
    this.o.log.info("worker_started", { workerId: slot.id, pid: child.pid, attempt: slot.attempt });
    child.once("exit", (code, sig) => this.exited(slot, code, sig));
  }

  private exited(slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void {
    this.o.onEvent?.({ type: "exited", workerId: slot.id, code, signal, attempt: slot.attempt });
    this.o.log.info("worker_exited", { workerId: slot.id, code, signal, attempt: slot.attempt });
    if (code === 0 || this.stopping) {
      slot.done = true;
      this.checkAllDone();
      return;
    }
    if (this.o.permanentFailureCode !== undefined && code === this.o.permanentFailureCode) {
      slot.done = true;
      void this.stop(`worker ${slot.id} failed permanently (exit code ${code}); see ${slot.id}.log`);
      return;
    }
    if (this.restarts >= this.o.backoffLimit) {
      slot.done = true;
      void this.stop(
        `worker ${slot.id} failed (${signal ?? `exit code ${code}`}) and the restart limit (${this.o.backoffLimit}) is reached`,
      );
      return;
    }
    const delay = Math.min(this.o.maxBackoffMs, this.o.initialBackoffMs * 2 ** this.restarts);
    this.restarts += 1;
    this.o.onEvent?.({ type: "restarting", workerId: slot.id, inMs: delay, restarts: this.restarts });
    this.o.log.warn("worker_restarting", { workerId: slot.id, inMs: delay, restarts: this.restarts });
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopping) this.spawn(slot);
    }, delay);
    this.timers.add(t);
  }

  private failReason: string | undefined;
  private closed = false;

  private checkAllDone(): void {
    if (this.closed || !this.slots.every((s) => s.done)) return;
    this.closed = true;
    for (const s of this.slots) s.out?.end();
    this.finish({ ok: this.failReason === undefined, restarts: this.restarts, reason: this.failReason });
  }

  /** Ends every worker at once (SIGKILL): a second Ctrl-C. Nothing after the last commit is kept. */
  killNow(): void {
    for (const s of this.slots) {
      const c = s.child;
      if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
  }

  /** Stops every worker: SIGTERM, then SIGKILL after the grace period. */
  async stop(reason: string): Promise<LaunchResult> {
    if (!this.stopping) {
      this.stopping = true;
      this.failReason = reason;
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      // As long as a Kubernetes pod gets: a worker may be mid-evaluation when told to stop.
      const grace = this.o.graceMs ?? 60_000;
      for (const s of this.slots) {
        const c = s.child;
        if (!c || c.exitCode !== null || c.signalCode !== null) {
          s.done = true;
          continue;
        }
        c.kill("SIGTERM");
        const k = setTimeout(() => c.kill("SIGKILL"), grace);
        c.once("exit", () => clearTimeout(k));
      }
      this.checkAllDone();
    }
    return this.done;
  }
}

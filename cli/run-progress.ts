// Live progress for `radfleet run`: a status block redrawn in place on a terminal, plain lines
// (at most one every few seconds, plus every notable event) when stdout is a pipe or a file.
import type { Progress } from "../common/progress.js";

/**
 * What the display shows: the newest worker's progress record (common/progress.ts) where it has
 * one, and what the run adds (generation, world size, restarts, the newest committed checkpoint,
 * the last evaluation's headline).
 */
export type ProgressSnapshot = Pick<Progress, "step" | "totalSteps"> &
  Partial<Pick<Progress, "loss" | "lmLoss" | "clsLoss" | "samplesPerSecond">> & {
    generation?: number;
    worldSize?: number;
    restarts: number;
    lastCheckpointStep?: number;
    lastEval?: string;
    /** the worker's phase, or "starting" before its first report */
    phase: string;
  };

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, "0")}s`
      : `${sec}s`;
}

const fmt = (x: number | undefined, digits = 4) =>
  x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);

export class ProgressDisplay {
  private readonly startedAt = Date.now();
  private lastPlain = 0;
  private drawnLines = 0;
  private firstStepAt: { time: number; step: number } | undefined;

  constructor(
    private readonly out:
      NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean } = process.stdout,
    private readonly plainEveryMs = 5000,
  ) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY) && process.env.TERM !== "dumb";
  }

  /** Seconds remaining, from the step rate since the first observed step (start-up excluded). */
  eta(p: ProgressSnapshot): number | undefined {
    if (p.step <= 0) return undefined;
    if (!this.firstStepAt) {
      this.firstStepAt = { time: Date.now(), step: p.step };
      return undefined;
    }
    const steps = p.step - this.firstStepAt.step;
    if (steps <= 0) return undefined;
    const perStep = (Date.now() - this.firstStepAt.time) / 1000 / steps;
    return perStep * Math.max(0, p.totalSteps - p.step);
  }

  lines(p: ProgressSnapshot): string[] {
    const pct = p.totalSteps > 0 ? Math.floor((100 * p.step) / p.totalSteps) : 0;
    const eta = this.eta(p);
    return [
      `step ${p.step}/${p.totalSteps} (${pct}%)  loss ${fmt(p.loss)}  lm ${fmt(p.lmLoss)}  cls ${fmt(p.clsLoss)}  ` +
        `${fmt(p.samplesPerSecond, 1)} samples/s  ETA ${eta === undefined ? "—" : formatDuration(eta)}`,
      `${p.phase}  generation ${p.generation ?? "—"}  workers ${p.worldSize ?? "—"}  restarts ${p.restarts}  ` +
        `checkpoint ${p.lastCheckpointStep ?? "—"}  eval ${p.lastEval ?? "—"}  elapsed ${formatDuration((Date.now() - this.startedAt) / 1000)}`,
    ];
  }

  update(p: ProgressSnapshot, force = false): void {
    const lines = this.lines(p);
    if (this.tty) {
      const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : "";
      this.out.write(up + lines.map((l) => `\x1b[2K${l}`).join("\n") + "\n");
      this.drawnLines = lines.length;
      return;
    }
    const now = Date.now();
    if (!force && now - this.lastPlain < this.plainEveryMs) return;
    this.lastPlain = now;
    this.out.write(lines.join("  |  ") + "\n");
  }

  /** A one-off message above the live block (events: restarts, checkpoints, evaluations). */
  note(message: string): void {
    if (this.tty && this.drawnLines > 0) {
      this.out.write(`\x1b[${this.drawnLines}F\x1b[J`);
      this.drawnLines = 0;
    }
    this.out.write(message + "\n");
  }
}

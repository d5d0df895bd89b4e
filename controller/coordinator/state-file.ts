// The run state (generation, restarts, committed checkpoints) in a JSON file, for runs without
// NATS: a local `radfleet run` stopped with Ctrl-C and started again in the same run directory
// resumes from its last committed checkpoint. Each write goes to a temporary file, is flushed and
// renamed over the old one, in order, so a crash mid-write leaves the previous state intact; the
// directory is flushed after the rename, so once a save resolves the new state survives a crash
// (a checkpoint commit is acknowledged only then).
import { open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../../common/log.js";
import { parsePersistedState, type PersistedRunState } from "./persisted-state.js";

export class RunStateFile {
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /**
   * The saved state, or null when there is none. A file that is not this run's state is reported
   * and ignored; one that cannot be read at all (permissions) fails the start, loudly.
   */
  async load(runId: string): Promise<PersistedRunState | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    let parsed: PersistedRunState | null = null;
    try {
      parsed = parsePersistedState(JSON.parse(text), runId);
    } catch {
      parsed = null;
    }
    if (!parsed) {
      this.log.warn("run_state_file_ignored", {
        path: this.path,
        why: `not the saved state of run ${runId}; starting without it`,
      });
    }
    return parsed;
  }

  /**
   * Queues a write of this state (writes happen one at a time, in call order). Resolves once the
   * file and its directory are on disk; rejects, after logging, when the write failed.
   */
  save(state: PersistedRunState): Promise<void> {
    const body = JSON.stringify(state, null, 1) + "\n";
    const tmp = `${this.path}.${process.pid}.${++this.seq}.tmp`;
    const written = this.chain.then(async () => {
      try {
        const fh = await open(tmp, "w");
        try {
          await fh.writeFile(body);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, this.path);
        // The rename is only durable once the directory entry is.
        const dir = await open(dirname(this.path), "r");
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      } catch (err) {
        this.log.error("run_state_file_write_failed", { path: this.path, err });
        await rm(tmp, { force: true }).catch(() => {});
        throw err;
      }
    });
    this.chain = written.catch(() => {});
    return written;
  }

  /** Resolves once every queued write is on disk. */
  flush(): Promise<void> {
    return this.chain;
  }
}

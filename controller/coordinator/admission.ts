// Who may make a call: a worker of this run, and for calls inside a generation, a member of the
// running one. Checked on every request before anything changes.
import { CoordinatorError } from "./errors.js";
import type { Generation } from "./generation.js";

/** Refuses an empty worker id, or one outside `allowed` when the run names its workers. */
export function checkWorkerId(runId: string, allowed: readonly string[] | undefined, workerId: string): void {
  if (!workerId)
    throw new CoordinatorError("invalid-argument", "worker_id is empty; every request names its worker");
  if (allowed && !allowed.includes(workerId)) {
    throw new CoordinatorError(
      "permission-denied",
      `worker ${JSON.stringify(workerId)} is not part of run ${runId}; check the worker's RADFLEET worker id`,
    );
  }
}

/**
 * The running generation, when it is `generation` and `workerId` is a member of it; otherwise a
 * refusal that tells the worker to rejoin. `what` names the call in the message.
 */
export function requireMember(
  runId: string,
  running: Generation | null,
  workerId: string,
  generation: number,
  what: string,
): Generation {
  if (!running || running.number !== generation) {
    throw new CoordinatorError(
      "failed-precondition",
      `${what}: generation ${generation} is not the running generation of run ${runId} ` +
        `(running: ${running ? running.number : "none"}); abandon the step and rejoin`,
    );
  }
  if (!running.has(workerId)) {
    throw new CoordinatorError(
      "permission-denied",
      `${what}: worker ${JSON.stringify(workerId)} is not a member of generation ${generation}; rejoin`,
    );
  }
  return running;
}

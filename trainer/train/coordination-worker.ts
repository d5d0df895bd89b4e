// The coordination thread (see coordination-thread.ts): runs the gRPC coordinator session and
// answers the main thread's calls. Started with common/ts-worker.js; not imported otherwise.
import { writeSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { createLogger } from "../../common/log.js";
import { GenerationEndedError } from "../../common/coordinator-client/index.js";
import { connectCoordination } from "./coordination-grpc.js";
import type { Coordination } from "./coordination.js";
import type {
  CoordinationThreadData,
  SerialisedError,
  ThreadEvent,
  ThreadRequest,
} from "./coordination-thread.js";

const data = workerData as CoordinationThreadData;
const port = parentPort!;
const post = (e: ThreadEvent): void => port.postMessage(e);

// Written straight to fd 2: a thread's process.stderr is relayed through the main thread, which
// is exactly the thread that may be busy when there is something to say.
const log = createLogger({
  context: {
    component: "trainer",
    runId: data.env.runId,
    workerId: data.env.workerId,
    thread: "coordination",
  },
  sink: { write: (line) => writeSync(2, line) },
});

const stamp = new BigInt64Array(data.alive);
/**
 * Consulted before every heartbeat. A main thread busy past the stall timeout is hung (a step or an
 * evaluation batch takes far less): like torch's NCCL watchdog, the process is ended, which closes
 * the session (the coordinator ends the generation at once) and lets the launcher or the pod's
 * controller start a fresh trainer. Its own signal handlers cannot run: the main thread is stuck.
 */
function mainThreadAlive(): boolean {
  const quiet = Date.now() - Number(Atomics.load(stamp, 0));
  if (quiet <= data.stallTimeoutMs) return true;
  log.error("main_thread_stalled", {
    quietMs: quiet,
    stallTimeoutMs: data.stallTimeoutMs,
    action: "ending the process (SIGKILL) so that it is restarted",
  });
  process.kill(process.pid, "SIGKILL");
  return false;
}

function serialise(err: unknown): SerialisedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === "number" ? { code } : {}) };
  }
  return { name: "Error", message: String(err) };
}

let coordination: Coordination;
try {
  coordination = await connectCoordination({
    env: data.env,
    spec: data.spec,
    log,
    collectiveAddress: data.collectiveAddress,
    alive: mainThreadAlive,
  });
} catch (err) {
  post({ type: "connectFailed", error: serialise(err) });
  process.exit(0);
}

async function answer(req: ThreadRequest): Promise<unknown> {
  switch (req.op) {
    case "join": {
      const g = await coordination.join();
      const ended = (): void => {
        const reason: unknown = g.signal.reason;
        post({
          type: "generationEnded",
          generation: g.generation,
          end: reason instanceof GenerationEndedError ? reason.end : null,
          message: reason instanceof Error ? reason.message : String(reason),
        });
      };
      if (g.signal.aborted) ended();
      else g.signal.addEventListener("abort", ended, { once: true });
      const { signal: _signal, ...plain } = g;
      return plain;
    }
    case "commitCheckpoint":
      return coordination.commitCheckpoint(...req.args);
    case "abandonCheckpoint":
      return coordination.abandonCheckpoint(...req.args);
    case "committedCheckpoints":
      return coordination.committedCheckpoints();
    case "leave":
      return coordination.leave(...req.args);
    case "close":
      return coordination.close();
    case "reportProgress":
      return coordination.reportProgress(...req.args);
  }
}

port.on("message", (req: ThreadRequest) => {
  answer(req).then(
    (value) => {
      if (req.op !== "reportProgress") post({ type: "result", id: req.id, value });
    },
    (err: unknown) => {
      if (req.op !== "reportProgress") post({ type: "error", id: req.id, error: serialise(err) });
      else log.debug("progress_report_failed", { err });
    },
  );
});
post({ type: "ready" });

// `radfleet coordinator`: a run's coordinator as its own process, as the Kubernetes controller
// launches it (one pod per run behind the run's headless Service). It exits 0 once every worker
// of the run has left done — which the controller reads as Succeeded — and 1 when one failed.
import { intFlag, numFlag, parseCommandLine } from "../../common/cli.js";
import { createLogger } from "../../common/log.js";
import { collectProcessMetrics, newRegistry, serveMetrics } from "../../common/metrics.js";
import { loadRunSpecFile } from "../../common/spec/index.js";
import { coordinatorOptionsFromSpec, startCoordinator } from "../../controller/coordinator/index.js";

const USAGE = `usage: radfleet coordinator --run NAME --spec SPEC.yaml [--port 7070] [--metrics-port 9464]
                            [--state-file PATH] [--worker-id-prefix PREFIX] [--drain-seconds 70]
  The run token comes from RADFLEET_TOKEN.

  --state-file        keep the run state (generation, committed checkpoints) in this file as well as
                      in NATS, so a restarted coordinator resumes the run without NATS
  --worker-id-prefix  admit only the worker ids PREFIX0 … PREFIX(replicas.max - 1); others are
                      refused with PERMISSION_DENIED
  --drain-seconds     on SIGTERM, keep serving while trainers (stopped at the same moment) commit
                      their final checkpoint and leave, at most this long (default 70); a second
                      signal ends at once`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      run: { type: "string" },
      spec: { type: "string" },
      port: { type: "string" },
      "metrics-port": { type: "string" },
      "state-file": { type: "string" },
      "worker-id-prefix": { type: "string" },
      "drain-seconds": { type: "string" },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const runId = values.run ?? process.env.RADFLEET_RUN_ID;
  const token = process.env.RADFLEET_TOKEN;
  const problems = [];
  if (!runId) problems.push("--run (or RADFLEET_RUN_ID): required");
  if (!values.spec) problems.push("--spec: required");
  if (!token) problems.push("RADFLEET_TOKEN: required, not set");
  const portFlag = (name: string, raw: string | undefined, dflt: number): number => {
    try {
      const n = intFlag(name, raw, dflt, 0);
      if (n <= 65535) return n;
      problems.push(`--${name}: expected a port number, got ${raw}`);
    } catch (e) {
      problems.push((e as Error).message);
    }
    return dflt;
  };
  const port = portFlag("port", values.port, 7070);
  const metricsPort = portFlag("metrics-port", values["metrics-port"], 9464);
  let drainSeconds = 70;
  try {
    drainSeconds = numFlag("drain-seconds", values["drain-seconds"], 70, 0);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const prefix = values["worker-id-prefix"];
  if (prefix !== undefined && prefix.trim() === "") problems.push("--worker-id-prefix: empty");
  if (problems.length) {
    console.error(`radfleet coordinator:\n  ${problems.join("\n  ")}`);
    return 2;
  }
  const { spec } = await loadRunSpecFile(values.spec!);
  const log = createLogger({ context: { component: "coordinator", runId } });
  const registry = newRegistry({ run: runId! });
  collectProcessMetrics(registry);
  const c = await startCoordinator({
    address: `0.0.0.0:${port}`,
    registry,
    logger: log,
    ...coordinatorOptionsFromSpec(spec, {
      runId: runId!,
      token: token!,
      allowedWorkerIds:
        prefix === undefined
          ? undefined
          : Array.from({ length: spec.replicas.max }, (_, i) => `${prefix}${i}`),
    }),
    stateFile: values["state-file"],
  });
  const metrics = await serveMetrics(registry, metricsPort);
  log.info("coordinator_serving", { address: c.address, metricsPort: metrics.port });
  const outcome = await new Promise<number>((resolve) => {
    const done = new Set<string>();
    let expected: string[] | undefined;
    c.run.onLeave((workerId, reason, message) => {
      if (reason === "failed") {
        log.error("run_failed", { workerId, message });
        resolve(1);
      } else if (reason === "done") {
        // Workers leave done only after the final barrier, so the members of the generation at the
        // first such leave are the ones to wait for (listeners run before the generation ends).
        expected ??= c.run.members().map((m) => m.workerId);
        done.add(workerId);
        if (expected.every((m) => done.has(m))) resolve(0);
      }
    });
    // Stopped (a suspend deletes every pod of the run at once; so does an eviction): the trainers
    // finish their step and commit a final checkpoint, which needs this coordinator. Serve until
    // every session has closed or the drain time is up; a second signal ends at once.
    let poll: NodeJS.Timeout | undefined;
    const onSignal = (signal: string): void => {
      if (poll) {
        // The second signal: end at once.
        clearInterval(poll);
        resolve(143);
        return;
      }
      log.info("stop_requested", { signal, drainSeconds, workers: c.run.aliveWorkers().length });
      const deadline = Date.now() + drainSeconds * 1000;
      poll = setInterval(() => {
        const left = c.run.aliveWorkers().length;
        if (left === 0 || Date.now() >= deadline) {
          clearInterval(poll);
          if (left > 0) log.warn("drain_timeout", { workers: left });
          else log.info("drained");
          resolve(143);
        }
      }, 100);
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  });
  await metrics.close();
  await c.close();
  return outcome;
}

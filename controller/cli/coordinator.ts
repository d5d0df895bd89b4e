// `radfleet coordinator`: a run's coordinator as its own process, as the Kubernetes controller
// launches it (one pod per run behind the run's headless Service). It exits 0 once every worker
// of the run has left done — which the controller reads as Succeeded — and 1 when one failed.
import { intFlag, parseCommandLine } from "../../common/cli.js";
import { createLogger } from "../../common/log.js";
import { collectProcessMetrics, newRegistry, serveMetrics } from "../../common/metrics.js";
import { loadRunSpecFile } from "../../common/spec/index.js";
import { coordinatorOptionsFromSpec, startCoordinator } from "../coordinator/index.js";

const USAGE = `usage: radfleet coordinator --run NAME --spec SPEC.yaml [--port 7070] [--metrics-port 9464]
  The run token comes from RADFLEET_TOKEN.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      run: { type: "string" },
      spec: { type: "string" },
      port: { type: "string" },
      "metrics-port": { type: "string" },
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
    ...coordinatorOptionsFromSpec(spec, { runId: runId!, token: token! }),
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
    const stop = () => resolve(143);
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await metrics.close();
  await c.close();
  return outcome;
}

// `radfleet trainer`: one training worker. Launchers (local processes, Kubernetes pods) start it with
// the environment described in common/trainer-env.ts. Exit codes: 0 done or stopped cleanly,
// 3 a failure a restart cannot fix (the launcher fails the run), anything else a crash (restarted).
import { join } from "node:path";
import { createLogger } from "../common/log.js";
import { collectProcessMetrics, newRegistry } from "../common/metrics.js";
import { serveMetricsFromThread } from "../common/metrics-thread.js";
import { loadRunSpecFile } from "../common/spec/index.js";
import { EXIT_PERMANENT_FAILURE, EXIT_RETRYABLE_FAILURE, readTrainerEnv } from "../common/trainer-env.js";
import { initBackend } from "./backend/index.js";
import { DirectoryStore } from "./checkpoint/index.js";
import { NatsObjectStore } from "./checkpoint/index.js";
import type { CheckpointStore } from "./checkpoint/index.js";
import { CollectiveListener } from "./collective/index.js";
import type { Coordination } from "./train/index.js";
import { connectCoordinationThread } from "./train/index.js";
import { trainerMetrics } from "./train/index.js";
import { runRecipe, TrainingFailure } from "./train/index.js";

/** RADFLEET_INJECT_NONFINITE / RADFLEET_INJECT_DIVERGENCE = "rank:step,step,…" (failure tests only). */
function parseInjection(name: string): { rank: number; steps: number[] } | undefined {
  const v = process.env[name];
  if (!v) return undefined;
  const m = /^(\d+):(\d+(?:,\d+)*)$/.exec(v);
  if (!m) throw new Error(`${name}: expected rank:step[,step...], got ${JSON.stringify(v)}`);
  return { rank: Number(m[1]), steps: m[2].split(",").map(Number) };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      "usage: radfleet trainer\n\nOne training worker, configured by RADFLEET_* environment variables (see common/trainer-env.ts).",
    );
    return 0;
  }
  const env = readTrainerEnv();
  const { spec } = await loadRunSpecFile(env.specPath);
  const log = createLogger({ context: { component: "trainer", runId: env.runId, workerId: env.workerId } });
  const backend = await initBackend(spec.backend, { threads: spec.resources.threads });
  log.info("backend_selected", {
    backend: backend.name,
    package: backend.pkg,
    version: backend.version,
    threads: backend.threads,
    threadSource: backend.threadSource,
    detail: backend.detail,
  });

  const registry = newRegistry({ run: env.runId, worker: env.workerId, rank: "", backend: backend.name });
  collectProcessMetrics(registry);
  const metrics = trainerMetrics(registry);
  metrics.backendInfo.set({ version: backend.version, threads: String(backend.threads) }, 1);
  // From its own thread: a long synchronous step must not make the trainer miss a scrape.
  const server = await serveMetricsFromThread(registry, { port: env.metricsPort });
  log.info("metrics_serving", { port: server.port });

  const stop = new AbortController();
  const onSignal = (sig: string) => {
    log.info("stop_requested", { signal: sig });
    stop.abort();
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));

  // Everything opened from here on is closed in the finally below: an open listener, server or
  // coordination thread would keep a failed trainer's process alive instead of letting it exit.
  let listener: CollectiveListener | undefined;
  let coordination: Coordination | undefined;
  let store: CheckpointStore | undefined;
  try {
    listener = await CollectiveListener.listen("0.0.0.0", 0, { logger: log });
    // The listener binds every interface; peers reach it at the advertised host (the pod IP on Kubernetes).
    const collectiveAddress = `${env.advertiseHost}:${listener.address.slice(listener.address.lastIndexOf(":") + 1)}`;
    coordination = await connectCoordinationThread({ env, spec, log, collectiveAddress });
    if (spec.checkpoint.store.type === "nats") {
      if (!spec.nats.url) throw new Error("spec.checkpoint.store.type is nats but spec.nats.url is not set");
      store = await NatsObjectStore.open({
        url: spec.nats.url,
        bucket: spec.checkpoint.store.bucket,
        prefix: env.runId,
      });
    } else {
      store = new DirectoryStore(spec.checkpoint.store.path ?? join(env.runDir, "checkpoints"));
    }
    return await train(coordination, store, listener);
  } finally {
    await coordination?.close().catch(() => {});
    await store?.close().catch(() => {});
    await listener?.close().catch(() => {});
    await server.close();
  }

  async function train(
    coordination: Coordination,
    store: CheckpointStore,
    listener: CollectiveListener,
  ): Promise<number> {
    try {
      const outcome = await runRecipe({
        spec,
        runId: env.runId,
        runDir: env.runDir,
        log,
        metrics,
        registry,
        coordination,
        store,
        listener,
        stop: stop.signal,
        injectNonFinite: parseInjection("RADFLEET_INJECT_NONFINITE"),
        injectDivergence: parseInjection("RADFLEET_INJECT_DIVERGENCE"),
        engine: `${backend.name} ${backend.version}, ${backend.threads} thread${backend.threads === 1 ? "" : "s"}`,
        onRank: (rank) =>
          registry.setDefaultLabels({
            run: env.runId,
            worker: env.workerId,
            rank: String(rank),
            backend: backend.name,
          }),
      });
      if (outcome.status === "failed" && outcome.retryable) {
        // Not a Leave: the closed session ends this generation for the others, and the launcher
        // restarts this process under restartPolicy.backoffLimit.
        log.error("trainer_failed", { reason: outcome.reason, restart: "by the launcher" });
        return EXIT_RETRYABLE_FAILURE;
      }
      if (outcome.status === "failed") {
        await coordination.leave("failed", outcome.reason);
        log.error("run_failed", { reason: outcome.reason });
        return EXIT_PERMANENT_FAILURE;
      }
      await coordination.leave(outcome.status);
      log.info("trainer_exit", {
        status: outcome.status,
        step: outcome.step,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
      });
      return 0;
    } catch (err) {
      // A failure at setup that a restart cannot fix (a spec the data or model contradicts) must not
      // be retried by the launcher.
      if (err instanceof TrainingFailure) {
        log.error("run_failed", { reason: err.message });
        await coordination.leave("failed", err.message).catch(() => {});
        console.error(`radfleet trainer: ${err.message}`);
        return EXIT_PERMANENT_FAILURE;
      }
      throw err;
    }
  }
}

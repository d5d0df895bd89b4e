// `radfleet controller`: runs the TrainingRun controller in-cluster or against a kubeconfig.
import { choiceFlag, intFlag, numFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { createLogger } from "../../common/log.js";
import { collectProcessMetrics, newRegistry, serveMetrics } from "../../common/metrics.js";
import { startController } from "../../controller/k8s/index.js";
import { controllerMetrics } from "../../controller/k8s/index.js";
import {
  connectKubeApi,
  DEFAULT_TRANSPORT,
  parseTransport,
  type Transport,
} from "../../controller/k8s/index.js";
import { natsProgressReader } from "../../controller/k8s/index.js";

const USAGE = `usage: radfleet controller [options]

Reconciles TrainingRuns (radfleet.io/v1alpha1) into coordinator and trainer pods.

options:
  --kubeconfig PATH          kubeconfig file (default: in-cluster, then $KUBECONFIG / ~/.kube/config)
  --namespace NS             watch only this namespace (default: all namespaces)
  --metrics-port P           serve /metrics and /healthz on this port (default 8080; 0 picks one)
  --workers N                concurrent reconciles (default 4)
  --leader-elect BOOL        take a Lease before acting (default true)
  --lease-namespace NS       namespace of the Lease (default: --namespace, $POD_NAMESPACE, or default)
  --lease-duration SECONDS   lease duration (default 15)
  --resync SECONDS           full resync period (default 30)
  --terminating-grace SECONDS  force-replace pods stuck Terminating this long (default 120)
  --identity ID              leader identity (default: hostname-pid)
  --default-nats-url URL     NATS (with JetStream) for runs whose spec.nats.url is unset
  --transport T              client-node | rest | auto: how to talk to the API server (default
                             $RADFLEET_KUBE_TRANSPORT, else client-node; auto: client-node if it
                             can run on this Node, else rest)
  -h, --help                 show this help`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      "metrics-port": { type: "string" },
      workers: { type: "string" },
      "leader-elect": { type: "string" },
      "lease-namespace": { type: "string" },
      "lease-duration": { type: "string" },
      resync: { type: "string" },
      "terminating-grace": { type: "string" },
      identity: { type: "string" },
      transport: { type: "string" },
      "default-nats-url": { type: "string" },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  let port: number, workers: number, leaseDuration: number, resync: number, grace: number;
  let leaderElect: boolean;
  let transport: Transport;
  try {
    port = intFlag("metrics-port", v["metrics-port"], 8080, 0);
    workers = intFlag("workers", v.workers, 4, 1);
    leaseDuration = numFlag("lease-duration", v["lease-duration"], 15, 1);
    resync = numFlag("resync", v.resync, 30, 1);
    grace = numFlag("terminating-grace", v["terminating-grace"], 120, 0);
    leaderElect = choiceFlag("leader-elect", v["leader-elect"], ["true", "false"], "true") === "true";
    transport =
      v.transport !== undefined
        ? parseTransport(v.transport, "--transport")
        : process.env.RADFLEET_KUBE_TRANSPORT
          ? parseTransport(process.env.RADFLEET_KUBE_TRANSPORT, "RADFLEET_KUBE_TRANSPORT")
          : DEFAULT_TRANSPORT;
  } catch (err) {
    return usageError(`radfleet controller: ${(err as Error).message}`, USAGE);
  }
  const log = createLogger({ context: { component: "controller" } });
  let api;
  try {
    api = await connectKubeApi(v.kubeconfig, transport, log);
  } catch (err) {
    console.error(
      `radfleet controller: cannot load kubeconfig ${v.kubeconfig ?? "(default)"}: ${(err as Error).message}`,
    );
    return 1;
  }
  const reg = newRegistry();
  collectProcessMetrics(reg);
  const metrics = controllerMetrics(reg);
  const server = await serveMetrics(reg, port);
  log.info("metrics_listening", { port: server.port });

  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const progress = natsProgressReader();
  const ctl = await startController(
    {
      api,
      progress,
      log,
      metrics,
      namespace: v.namespace,
      workers,
      resyncSeconds: resync,
      identity: v.identity,
      defaultNatsUrl: v["default-nats-url"] || undefined,
      plan: { terminatingGraceSeconds: grace },
      leaderElection: leaderElect
        ? {
            namespace: v["lease-namespace"] ?? v.namespace ?? process.env.POD_NAMESPACE ?? "default",
            leaseDurationSeconds: leaseDuration,
          }
        : false,
    },
    ac.signal,
  );
  const { lostLeadership } = await ctl.done;
  await progress.close();
  await server.close();
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  // Losing the lease exits non-zero so the Deployment restarts us as a fresh candidate.
  return lostLeadership ? 1 : 0;
}

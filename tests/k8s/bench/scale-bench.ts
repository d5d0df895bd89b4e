// Scale benchmark: N TrainingRuns x R replicas reconciled by one controller against the real
// control plane (kwok nodes with GPUs). Prints the time until every pod exists, until every run
// is Running, and the controller's CPU time and resident memory. Figures, not assertions.
//   node --import tsx tests/k8s/bench/scale-bench.ts [--runs 100] [--replicas 8] [--workers 4]
import { parseArgs } from "node:util";
import { startControlPlane } from "../cluster/control-plane.js";
import { fakeGpuNode, namespace, trainingRun } from "../cluster/fixtures.js";
import { eventually, startControllerProc } from "../cluster/helpers.js";
import { kubeClient } from "../cluster/kube-client.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "100" },
    replicas: { type: "string", default: "8" },
    workers: { type: "string", default: "4" },
  },
});
const runs = Number(values.runs);
const replicas = Number(values.replicas);
const podsWanted = runs * (replicas + 1);

async function metric(port: number, name: string): Promise<number> {
  const text = await (
    await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })
  ).text();
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m"));
  return m ? Number(m[1]) : NaN;
}

async function countPods(kube: ReturnType<typeof kubeClient>): Promise<number> {
  const r = await kube.json<{ items: unknown[] }>(
    "GET",
    "/api/v1/namespaces/bench/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dradfleet-controller",
  );
  return r.items.length;
}

const cp = await startControlPlane({ log: (s) => console.error(`[k8s] ${s}`) });
try {
  const kube = kubeClient(cp.kubeconfig);
  // Enough fake GPUs for every worker: 8 per node.
  const nodes = Math.ceil((runs * replicas) / 8);
  await Promise.all(
    Array.from({ length: nodes }, (_, i) => kube.create(fakeGpuNode(`bench-${i}`, { gpus: 8, pods: 64 }))),
  );
  const crd = (await import("../../../common/spec/index.js")).trainingRunCrd();
  await kube.create(crd);
  await eventually(
    "CRD established",
    () => kube.raw("GET", "/apis/radfleet.io/v1alpha1/trainingruns"),
    (r) => r.status === 200,
  );
  await kube.create(namespace("bench"));
  await eventually(
    "default SA",
    () => kube.raw("GET", "/api/v1/namespaces/bench/serviceaccounts/default"),
    (r) => r.status === 200,
    60_000,
  );
  const ctl = await startControllerProc(cp.kubeconfig, "bench", [
    "--workers",
    values.workers!,
    "--resync",
    "60",
    "--leader-elect",
    "false",
  ]);
  await eventually(
    "controller metrics",
    () => metric(ctl.metricsPort, "radfleet_process_cpu_seconds_total"),
    (v) => Number.isFinite(v),
    60_000,
  );
  const cpu0 = await metric(ctl.metricsPort, "radfleet_process_cpu_seconds_total");

  const t0 = performance.now();
  for (let i = 0; i < runs; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, runs - i) }, (_, j) =>
        kube.create(
          trainingRun(`run-${i + j}`, "bench", {
            replicas: { min: replicas, max: replicas },
            scheduling: { gangTimeoutSeconds: 600 },
          }),
        ),
      ),
    );
  }
  const tApplied = performance.now();
  await eventually(
    "all pods created",
    () => countPods(kube),
    (n) => n >= podsWanted,
    1_200_000,
  );
  const tPods = performance.now();
  let peakRss = await metric(ctl.metricsPort, "radfleet_process_resident_memory_bytes");
  await eventually(
    "all runs Running",
    async () => {
      peakRss = Math.max(peakRss, await metric(ctl.metricsPort, "radfleet_process_resident_memory_bytes"));
      const r = await kube.json<{ items: Array<{ status?: { phase?: string } }> }>(
        "GET",
        "/apis/radfleet.io/v1alpha1/namespaces/bench/trainingruns",
      );
      return r.items.filter((x) => x.status?.phase === "Running").length;
    },
    (n) => n >= runs,
    1_200_000,
  );
  const tRunning = performance.now();
  const cpu1 = await metric(ctl.metricsPort, "radfleet_process_cpu_seconds_total");
  const recCount = await metric(ctl.metricsPort, "radfleet_reconcile_duration_seconds_count");
  const recSum = await metric(ctl.metricsPort, "radfleet_reconcile_duration_seconds_sum");
  const s = (ms: number) => (ms / 1000).toFixed(1);
  console.log(
    `scale benchmark: ${runs} TrainingRuns x ${replicas} replicas (+1 coordinator each) = ${podsWanted} pods, ${nodes} kwok nodes, ${values.workers} reconcile workers`,
  );
  console.log(`  runs created (API)            ${s(tApplied - t0)} s`);
  console.log(`  all pods created              ${s(tPods - t0)} s`);
  console.log(`  all runs Running (kwok ready) ${s(tRunning - t0)} s`);
  console.log(
    `  controller CPU time           ${(cpu1 - cpu0).toFixed(1)} s (${((((cpu1 - cpu0) * 1000) / (tRunning - t0)) * 100).toFixed(0)}% of one core)`,
  );
  console.log(`  controller peak RSS           ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
  console.log(
    `  reconciles                    ${recCount} (mean ${((recSum / recCount) * 1000).toFixed(1)} ms)`,
  );
  await ctl.stop();
} finally {
  await cp.stop();
}

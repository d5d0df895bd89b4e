// Starts one control plane for all cluster test files (builds it first when the cache is cold)
// and registers fake GPU nodes for kwok.
import type { TestProject } from "vitest/node";
import { startControlPlane, type ControlPlane } from "./control-plane.js";
import { kubeClient } from "./kube-client.js";
import { fakeGpuNode } from "./fixtures.js";
import { eventually } from "./helpers.js";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    k8sBin: string;
    k8sDir: string;
    etcdUrl: string;
  }
}

let cp: ControlPlane | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  cp = await startControlPlane({
    log: (s) => console.log(`[k8s] ${s}`),
    // Pod watches straight from etcd: the watch cache serves any old resourceVersion until it has
    // evicted events, so only without it does a compacted version answer 410 Gone in a short
    // test (transport.test.ts). Everything else works the same either way.
    apiserverArgs: ["--watch-cache-sizes=pods#0"],
  });
  const kube = kubeClient(cp.kubeconfig);
  // 8 GPUs a node (a 16-GPU worker never fits); enough nodes that the runs the test files leave
  // Running (the controller tests run once per transport) never exhaust them.
  for (let i = 0; i < 6; i++) await kube.create(fakeGpuNode(`gpu-node-${i}`, { gpus: 8 }));
  // The CRD as the chart ships it, so every test file can create runs whatever the order.
  const crd = YAML.parse(
    await readFile(join(REPO, "charts/radfleet/crds/trainingruns.radfleet.io.yaml"), "utf8"),
  ) as Record<string, unknown>;
  await kube.create(crd);
  await eventually(
    "TrainingRun CRD established",
    () =>
      kube.json<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trainingruns.radfleet.io",
      ),
    (c) => !!c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True"),
  );
  project.provide("kubeconfig", cp.kubeconfig);
  project.provide("k8sBin", cp.bin);
  project.provide("k8sDir", cp.dir);
  project.provide("etcdUrl", cp.etcd);
  return async () => {
    await cp?.stop();
  };
}

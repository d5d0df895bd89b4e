// Kubernetes tests, run on their own (`npm run test:k8s`):
// - project "k8s-unit": the controller's pure logic (planning, pod templates), no cluster;
// - project "k8s-cluster": against a real kube-apiserver, etcd, controller-manager, scheduler and
//   kwok built from Go modules by tests/k8s/build-control-plane.sh (cached; cold build is slow).
import { defineConfig } from "vitest/config";

const root = new URL("../..", import.meta.url).pathname;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "k8s-unit",
          root,
          include: ["tests/k8s/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "k8s-cluster",
          root,
          include: ["tests/k8s/cluster/**/*.test.ts"],
          testTimeout: 120_000,
          // The first run builds the control plane from source: allow for it.
          hookTimeout: 3_600_000,
          globalSetup: ["tests/k8s/cluster/global-setup.ts"],
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
    ],
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Cluster tests need a control plane built from Go modules (18 min cold): `npm run test:k8s`.
    exclude: ["tests/k8s/cluster/**", "tests/k8s/bench/**", "node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: integration tests start real processes; keep concurrency modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Cluster tests need a control plane built from Go modules: tests/run-all.sh (npm test) builds
    // it and runs them after these with tests/k8s/vitest.config.ts; `npm run test:k8s` alone.
    exclude: ["tests/k8s/cluster/**", "tests/k8s/bench/**", "node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: integration tests start real processes; keep concurrency modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});

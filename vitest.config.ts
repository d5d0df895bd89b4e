import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: ["tests/k8s/**", "node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: integration tests start real processes; keep concurrency modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});

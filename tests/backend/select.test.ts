// Backend selection and threads, each in a fresh process (a backend is chosen once per process,
// and libtensorflow reads its thread settings once, when it loads).
import { execFile } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { planThreads } from "../../trainer/backend/index.js";
import { HAS_TENSORFLOW } from "../helpers/backends.js";

const run = promisify(execFile);
const INDEX = join(import.meta.dirname, "../../trainer/backend/index.ts");

/** initBackend(args) in a child; `after` runs there too (e.g. counting threads). */
async function pick(
  env: Record<string, string>,
  args = '"auto"',
  after = "",
): Promise<{ info?: Record<string, unknown>; extra?: unknown; error?: string }> {
  const script = `import { initBackend } from ${JSON.stringify(INDEX)};
    import * as tf from "@tensorflow/tfjs";
    import { readdirSync } from "node:fs";
    const info = await initBackend(${args});
    let extra; ${after}
    console.log(JSON.stringify({ info, extra }));`;
  try {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: {
        ...process.env,
        RADFLEET_BACKEND: "",
        RADFLEET_CPU_LIMIT: "",
        TF_NUM_INTRAOP_THREADS: "",
        ...env,
      },
      timeout: 60_000,
    });
    return JSON.parse(stdout.trim().split("\n").pop() ?? "{}");
  } catch (err) {
    return { error: (err as { stderr: string }).stderr };
  }
}

describe("backend selection", () => {
  it.skipIf(!HAS_TENSORFLOW)(
    "auto picks tensorflow where its binding is built, and says which library and threads",
    async () => {
      const { info } = await pick({ RADFLEET_CPU_LIMIT: "1" });
      expect(info).toMatchObject({
        name: "tensorflow",
        pkg: "@tensorflow/tfjs-node",
        version: "2.21.0",
        threads: 1,
        threadSource: "RADFLEET_CPU_LIMIT",
      });
    },
  );

  it("falls back to wasm when no tfjs-node loads, saying why and what builds it", async () => {
    const { info } = await pick({}, '"auto", { packages: ["@tensorflow/tfjs-node-absent"] }');
    expect(info?.name).toBe("wasm");
    expect(info?.threads).toBe(1);
    expect(info?.detail).toMatch(/@tensorflow\/tfjs-node-absent is not installed.*npm run setup:tensorflow/);
  });

  it("an explicit tensorflow request that cannot be met fails with the fix; a bad value names the variable", async () => {
    expect((await pick({}, '"tensorflow", { packages: ["@tensorflow/tfjs-node-absent"] }')).error).toMatch(
      /backend tensorflow requested but it is not available \(@tensorflow\/tfjs-node-absent is not installed\); run npm run setup:tensorflow/,
    );
    expect((await pick({ RADFLEET_BACKEND: "gpu" })).error).toMatch(
      /RADFLEET_BACKEND: expected auto, tensorflow, wasm or cpu, got "gpu"/,
    );
  });

  it("the environment variable overrides the requested backend", async () => {
    expect((await pick({ RADFLEET_BACKEND: "cpu" }, '"wasm"')).info?.name).toBe("cpu");
  });

  it.skipIf(!HAS_TENSORFLOW)(
    "libtensorflow's thread pool follows the plan: 1 thread for a 1-core share, more when asked",
    async () => {
      // Threads of the process after a large matmul (libtensorflow starts its pools on first use).
      const count = `tf.matMul(tf.ones([1024, 1024]), tf.ones([1024, 1024])).dataSync(); extra = readdirSync("/proc/self/task").length;`;
      const one = await pick({ RADFLEET_CPU_LIMIT: "1" }, '"tensorflow"', count);
      const eight = await pick({ TF_NUM_INTRAOP_THREADS: "8" }, '"tensorflow"', count);
      expect(one.info?.threads).toBe(1);
      expect(eight.info).toMatchObject({ threads: 8, threadSource: "TF_NUM_INTRAOP_THREADS" });
      // Seven more pool threads (give or take libtensorflow's own housekeeping threads).
      expect((eight.extra as number) - (one.extra as number)).toBeGreaterThanOrEqual(5);
    },
  );
});

describe("thread plan", () => {
  it("TF_NUM_INTRAOP_THREADS, then spec.resources.threads, then the CPU limit (capped at the cores), then all cores", () => {
    expect(planThreads(3, { TF_NUM_INTRAOP_THREADS: "5" })).toMatchObject({
      intraOp: 5,
      source: "TF_NUM_INTRAOP_THREADS",
    });
    expect(planThreads(3, { RADFLEET_CPU_LIMIT: "1" })).toMatchObject({
      intraOp: 3,
      interOp: 1,
      source: "spec.resources.threads",
    });
    expect(planThreads(undefined, { RADFLEET_CPU_LIMIT: "1500m" })).toMatchObject({
      intraOp: 1,
      source: "RADFLEET_CPU_LIMIT",
    });
    expect(planThreads(undefined, { RADFLEET_CPU_LIMIT: "100000" }).intraOp).toBe(availableParallelism());
    expect(planThreads(undefined, {}).source).toBe("all cores");
    expect(() => planThreads(undefined, { RADFLEET_CPU_LIMIT: "two" })).toThrow(
      /RADFLEET_CPU_LIMIT: expected a CPU count such as 2 or 1500m, got "two"/,
    );
  });
});

// Shared by the recipe unit tests: a small synthetic data set on disk, a run spec over it, the
// recipe's real setup (data splits, a seeded random tiny model), trainer metrics on their own
// registry, a logger that keeps its lines, and collectives of one or two ranks over loopback in this
// process. Tensors run on the engine the trainer would pick here (initBackend "auto": tensorflow
// where its binding is built, else wasm, else cpu).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { createLogger, type Logger } from "../../common/log.js";
import { newRegistry, type Registry } from "../../common/metrics.js";
import { parseRunSpec, type RunSpec } from "../../common/spec/index.js";
import { initBackend } from "../../trainer/backend/index.js";
import { Collective, CollectiveListener } from "../../trainer/collective/index.js";
import { synthesize } from "../../trainer/data/index.js";
import { trainerMetrics, type TrainerMetrics } from "../../trainer/train/metrics.js";
import {
  imageLoader,
  loadRecipeData,
  setupModel,
  type ImageLoader,
  type RecipeData,
  type RecipeModel,
} from "../../trainer/train/recipe/setup.js";

/** Deep-merges `b` into `a` (objects only; arrays and values replace). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && cur && typeof cur === "object" && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Selects the tensor engine, then writes a 24-study synthetic data set at 32 px under a new temporary directory. */
export async function synthDataset(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  await initBackend("auto", { threads: 1 });
  const dir = await mkdtemp(join(tmpdir(), "radfleet-recipe-"));
  await synthesize({ out: join(dir, "data"), studies: 24, seed: 3, difficulty: "easy", imageSize: 32 });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The synthetic data set for a test file: written before its tests run, removed after them. */
export function useSynthDataset(): { readonly dir: string } {
  let data: Awaited<ReturnType<typeof synthDataset>> | undefined;
  beforeAll(async () => {
    data = await synthDataset();
  });
  afterAll(async () => {
    await data?.cleanup();
  });
  return {
    get dir(): string {
      if (!data)
        throw new Error("useSynthDataset: the data set is made in beforeAll; read dir inside a test");
      return data.dir;
    },
  };
}

/** A test-sized spec over the data set in `dir`: a random tiny model at 32 px, r = 4 adapters. */
export function testSpec(dir: string, overrides: Record<string, unknown> = {}): RunSpec {
  const base = {
    data: { path: join(dir, "data"), imageSize: 32, maxReportTokens: 16 },
    model: { init: "random", lora: { r: 4, dropout: 0.1 } },
    training: { steps: 6, batchSize: 2, learningRate: 0.003, warmupSteps: 2, maxNonFiniteSteps: 3 },
    evaluation: { maxSamples: 4, generation: { maxNewTokens: 4 } },
    replicas: { min: 1, max: 2 },
  };
  return parseRunSpec(merge(base, overrides)).spec;
}

/** A logger whose JSON lines are kept, parsed, in `lines`. */
export function recordingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: "debug",
    sink: { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { log, lines };
}

export function testMetrics(): { registry: Registry; metrics: TrainerMetrics } {
  const registry = newRegistry();
  return { registry, metrics: trainerMetrics(registry) };
}

/** The value of a metric sample as /metrics shows it, e.g. sampleOf(text, 'radfleet_train_step'). */
export function sampleOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export interface TinyRecipe {
  spec: RunSpec;
  data: RecipeData;
  model: RecipeModel;
  loadImages: ImageLoader;
  metrics: TrainerMetrics;
  registry: Registry;
  log: Logger;
  lines: Array<Record<string, unknown>>;
}

/** The recipe's own setup for `spec`: one model (a second call with the same spec builds an identical one). */
export async function tinyRecipe(spec: RunSpec): Promise<TinyRecipe> {
  const { log, lines } = recordingLogger();
  const { registry, metrics } = testMetrics();
  const data = await loadRecipeData(spec, log);
  const model = await setupModel(spec, data.train, log, metrics);
  return { spec, data, model, loadImages: imageLoader(spec), metrics, registry, log, lines };
}

/** `n` ranks of generation 1 over loopback in this process; close() tears them and their listeners down. */
export async function localRanks(
  n: number,
  signals: AbortSignal[] = [],
): Promise<{ collectives: Collective[]; listeners: CollectiveListener[]; close: () => Promise<void> }> {
  const listeners = await Promise.all(
    Array.from({ length: n }, () => CollectiveListener.listen("127.0.0.1", 0)),
  );
  const peers = listeners.map((l) => l.address);
  const collectives = await Promise.all(
    listeners.map((listener, rank) =>
      // The ranks share one thread: a rank's synchronous forward pass delays the others' reads, so
      // the dead-peer bound is far above a step's time.
      Collective.connect({
        rank,
        worldSize: n,
        generation: 1,
        peers,
        listener,
        signal: signals[rank],
        timeoutMs: 120_000,
      }),
    ),
  );
  return {
    collectives,
    listeners,
    close: async () => {
      await Promise.all(collectives.map((c) => c.close()));
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}

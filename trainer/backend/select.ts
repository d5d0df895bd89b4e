// Tensor backend selection. `tensorflow` (libtensorflow through @tensorflow/tfjs-node-gpu or
// @tensorflow/tfjs-node, whose binding `npm run setup:tensorflow` builds) when its binding loads,
// else `wasm` (SIMD, one thread), else `cpu`. A flag or the spec asks for one; RADFLEET_BACKEND
// overrides both. What was chosen, its library version, its threads and why a preferred backend was
// skipped come back in BackendInfo, which the trainer logs and labels its metrics with.
import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs";
import { planThreads, type ThreadPlan } from "./threads.js";

export type BackendName = "tensorflow" | "wasm" | "cpu";
export type BackendChoice = BackendName | "auto";

export interface BackendInfo {
  name: BackendName;
  /** The package that provides it, e.g. @tensorflow/tfjs-node. */
  pkg: string;
  /** The engine's version: libtensorflow's for tensorflow, the package's otherwise. */
  version: string;
  /** Threads one op may use (tensorflow: the plan; wasm and cpu: 1). */
  threads: number;
  threadSource: ThreadPlan["source"] | "single-threaded";
  /** Why a preferred backend was skipped, or "requested". */
  detail: string;
}

export const NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;
const require = createRequire(import.meta.url);

function parseChoice(value: string | undefined, source: string): BackendChoice | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "auto" || value === "tensorflow" || value === "wasm" || value === "cpu") return value;
  throw new Error(`${source}: expected auto, tensorflow, wasm or cpu, got ${JSON.stringify(value)}`);
}

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** Why a package cannot serve as the backend, in a few words (its binding is missing, it is not installed…). */
function importProblem(pkg: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (
    /Cannot find (package|module) ['"]?@tensorflow\/tfjs-node/.test(msg) ||
    /ERR_MODULE_NOT_FOUND/.test(msg)
  )
    return `${pkg} is not installed`;
  if (/tfjs_binding\.node\) can not be found/.test(msg)) return `${pkg}'s binding is not built`;
  return `${pkg} does not load: ${msg.split("\n")[0]}`;
}

async function tryTensorflow(packages: readonly string[], problems: string[]): Promise<string | undefined> {
  for (const pkg of packages) {
    try {
      await import(pkg);
      if (tf.findBackend("tensorflow")) return pkg;
      problems.push(`${pkg} registered no tensorflow backend`);
    } catch (err) {
      problems.push(importProblem(pkg, err));
    }
  }
  return undefined;
}

async function tryWasm(): Promise<boolean> {
  try {
    await import("@tensorflow/tfjs-backend-wasm");
    return await tf.setBackend("wasm");
  } catch {
    return false;
  }
}

/** The libtensorflow version the loaded binding reports. */
function libtensorflowVersion(): string {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return binding?.TF_Version ?? "unknown";
}

export interface InitBackendOptions {
  /** spec.resources.threads: the thread count to use instead of the CPU limit. */
  threads?: number;
  env?: NodeJS.ProcessEnv;
  /** The tfjs-node packages tried for `tensorflow`, in order (default: the GPU one, then the CPU one). */
  packages?: readonly string[];
}

/**
 * Initialises the tensor engine. `requested` comes from a flag or the spec; RADFLEET_BACKEND
 * overrides both (so an operator can switch a deployed trainer without editing its spec).
 */
export async function initBackend(
  requested: BackendChoice = "auto",
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  const env = opts.env ?? process.env;
  const choice = parseChoice(env.RADFLEET_BACKEND, "RADFLEET_BACKEND") ?? requested;
  const skipped: string[] = [];
  if (choice === "auto" || choice === "tensorflow") {
    // libtensorflow reads its pool sizes once, when it loads: they are set before the import.
    const plan = planThreads(opts.threads, env);
    process.env.TF_NUM_INTRAOP_THREADS = String(plan.intraOp);
    process.env.TF_NUM_INTEROP_THREADS = String(plan.interOp);
    // Level 1 keeps TensorFlow's warnings and drops its start-up INFO lines (oneDNN, CPU features).
    process.env.TF_CPP_MIN_LOG_LEVEL ??= "1";
    const problems: string[] = [];
    const pkg = await tryTensorflow(opts.packages ?? NODE_PACKAGES, problems);
    if (pkg && (await tf.setBackend("tensorflow"))) {
      await tf.ready();
      return {
        name: "tensorflow",
        pkg,
        version: libtensorflowVersion(),
        threads: plan.intraOp,
        threadSource: plan.source,
        detail: choice === "tensorflow" ? "requested" : "auto",
      };
    }
    if (choice === "tensorflow") {
      throw new Error(
        `backend tensorflow requested but it is not available (${problems.join("; ")}); run npm run setup:tensorflow`,
      );
    }
    skipped.push(`tensorflow: ${problems.join("; ")} (npm run setup:tensorflow builds it)`);
  }
  if (choice === "auto" || choice === "wasm") {
    if (await tryWasm()) {
      await tf.ready();
      return {
        name: "wasm",
        pkg: "@tensorflow/tfjs-backend-wasm",
        version: packageVersion("@tensorflow/tfjs-backend-wasm"),
        threads: 1,
        threadSource: "single-threaded",
        detail: skipped.join("; ") || "requested",
      };
    }
    if (choice === "wasm")
      throw new Error("backend wasm requested but @tensorflow/tfjs-backend-wasm failed to initialise");
    skipped.push("wasm: failed to initialise");
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return {
    name: "cpu",
    pkg: "@tensorflow/tfjs-backend-cpu",
    version: tf.version_core,
    threads: 1,
    threadSource: "single-threaded",
    detail: skipped.join("; ") || "requested",
  };
}

/** One line for logs and summaries: "tensorflow (libtensorflow 2.21.0, 2 threads)". */
export function describeBackend(b: BackendInfo): string {
  if (b.name === "tensorflow")
    return `tensorflow (libtensorflow ${b.version}, ${b.threads} thread${b.threads === 1 ? "" : "s"})`;
  return `${b.name} (${b.pkg} ${b.version}, 1 thread)`;
}

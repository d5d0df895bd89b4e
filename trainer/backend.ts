// Tensor backend selection. `tensorflow` (libtensorflow through @tensorflow/tfjs-node-gpu or
// @tensorflow/tfjs-node) when one is installed — the GPU image installs tfjs-node-gpu; they are not
// plain dependencies because their install downloads libtensorflow — else `wasm` (SIMD, one thread),
// else `cpu`. A flag or RADFLEET_BACKEND overrides the choice.
import * as tf from "@tensorflow/tfjs";

export type BackendName = "tensorflow" | "wasm" | "cpu";
export type BackendChoice = BackendName | "auto";

export interface BackendInfo {
  name: BackendName;
  /** Which package provided it (tensorflow backends) or why a preferred one was skipped. */
  detail: string;
}

const NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"];

function parseChoice(value: string | undefined, source: string): BackendChoice | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "auto" || value === "tensorflow" || value === "wasm" || value === "cpu") return value;
  throw new Error(`${source}: expected auto, tensorflow, wasm or cpu, got ${JSON.stringify(value)}`);
}

async function tryTensorflow(): Promise<string | undefined> {
  for (const pkg of NODE_PACKAGES) {
    try {
      await import(pkg);
      if (tf.findBackend("tensorflow")) return pkg;
    } catch {
      // not installed (the normal case on CPU machines)
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

/**
 * Initialises the tensor engine. `requested` comes from a flag or the spec; RADFLEET_BACKEND
 * overrides both (so an operator can switch a deployed trainer without editing its spec).
 */
export async function initBackend(requested: BackendChoice = "auto"): Promise<BackendInfo> {
  const choice = parseChoice(process.env.RADFLEET_BACKEND, "RADFLEET_BACKEND") ?? requested;
  const skipped: string[] = [];
  if (choice === "auto" || choice === "tensorflow") {
    const pkg = await tryTensorflow();
    if (pkg && (await tf.setBackend("tensorflow"))) {
      await tf.ready();
      return { name: "tensorflow", detail: pkg };
    }
    if (choice === "tensorflow") {
      throw new Error(
        `backend tensorflow requested but neither ${NODE_PACKAGES.join(" nor ")} can be imported`,
      );
    }
    skipped.push("tensorflow: no tfjs-node package installed");
  }
  if (choice === "auto" || choice === "wasm") {
    if (await tryWasm()) {
      await tf.ready();
      return { name: "wasm", detail: skipped.join("; ") || "requested" };
    }
    if (choice === "wasm")
      throw new Error("backend wasm requested but @tensorflow/tfjs-backend-wasm failed to initialise");
    skipped.push("wasm: failed to initialise");
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return { name: "cpu", detail: skipped.join("; ") || "requested" };
}

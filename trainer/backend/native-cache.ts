// What native build radfleet makes (the libtensorflow version and the two flavours) and where it
// keeps it: one cache folder per version, flavour and platform, with a manifest of what went in.
// doctor reads the same folder to report on a build.
import { readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The libtensorflow the binding is built against; its C API covers every call tfjs-node 4.22 makes. */
export const TENSORFLOW_VERSION = "2.21.0";

export type NativeFlavor = "cpu" | "gpu";

interface FlavorInfo {
  pkg: "@tensorflow/tfjs-node" | "@tensorflow/tfjs-node-gpu";
  /** PyPI projects tried in order (the first that has a wheel for this Python and platform). */
  wheels: string[];
  /** Also fetch the wheel's `and-cuda` extra (NVIDIA's CUDA, cuDNN, cuBLAS… wheels). */
  cuda: boolean;
}

export const FLAVORS: Record<NativeFlavor, FlavorInfo> = {
  cpu: { pkg: "@tensorflow/tfjs-node", wheels: ["tensorflow-cpu", "tensorflow"], cuda: false },
  gpu: { pkg: "@tensorflow/tfjs-node-gpu", wheels: ["tensorflow"], cuda: true },
};

export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RADFLEET_CACHE_DIR) return resolve(env.RADFLEET_CACHE_DIR);
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "radfleet");
}

export function nativeCacheDir(cacheRoot: string, flavor: NativeFlavor): string {
  return join(cacheRoot, `libtensorflow-${TENSORFLOW_VERSION}-${flavor}-${process.platform}-${process.arch}`);
}

/** What a finished setup recorded beside the build. */
export interface NativeManifest {
  tensorflowVersion: string;
  flavor: NativeFlavor;
  wheels: string[];
  python: string;
  tfjsNodeVersion: string;
  napi: number;
  builtAt: string;
}

/** Reads what a previous setup recorded (doctor reports it). */
export function readManifest(cacheDir: string): NativeManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(cacheDir, "manifest.json"), "utf8")) as NativeManifest;
  } catch {
    return undefined;
  }
}

/** Written last, by rename, so a build that fails half-way leaves no manifest behind. */
export async function writeManifest(cacheDir: string, manifest: NativeManifest): Promise<void> {
  const path = join(cacheDir, "manifest.json");
  await writeFile(`${path}.tmp`, JSON.stringify(manifest, null, 2) + "\n");
  await rename(`${path}.tmp`, path);
}

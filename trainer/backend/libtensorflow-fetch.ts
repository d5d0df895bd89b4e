// libtensorflow out of the PyPI TensorFlow wheel: pip downloads the wheel for this Python and
// platform (no dependencies, binaries only, no pip cache), and the shared libraries and the closure
// of C API headers the binding includes are extracted into the cache. For GPUs, NVIDIA's CUDA
// libraries come from the wheels the TensorFlow wheel's `and-cuda` extra names.
import type { SpawnSyncReturns } from "node:child_process";
import { mkdir, readdir, readFile, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { FLAVORS, TENSORFLOW_VERSION, type NativeFlavor } from "./native-cache.js";
import { failureLine, runTool, SetupError } from "./setup-tools.js";
import { extractWheelEntry, listWheel, readWheelEntry, type WheelEntry } from "./wheel.js";

/** A Python with pip (pip fetches the wheel for this interpreter and platform; node-gyp's gyp is Python too). */
export function findPython(env: NodeJS.ProcessEnv): string {
  const candidates = [env.PYTHON, "python3", "python"].filter((c): c is string => !!c);
  let sawPython = false;
  for (const c of candidates) {
    if (runTool(c, ["--version"]).status !== 0) continue;
    sawPython = true;
    if (runTool(c, ["-m", "pip", "--version"]).status === 0) return c;
  }
  throw sawPython
    ? new SetupError(
        "Python has no pip (pip fetches the TensorFlow wheel)",
        "apt-get install -y python3-pip, then npm run setup:tensorflow",
      )
    : new SetupError(
        "no Python 3 found (pip fetches the TensorFlow wheel)",
        "apt-get install -y python3 python3-pip, then npm run setup:tensorflow",
      );
}

function pipDownload(python: string, requirement: string, dest: string): SpawnSyncReturns<string> {
  // --no-cache-dir: pip's own cache would be a write outside radfleet's cache.
  return runTool(python, [
    "-m",
    "pip",
    "download",
    "--no-deps",
    "--only-binary=:all:",
    "--no-cache-dir",
    "--disable-pip-version-check",
    "--quiet",
    "--dest",
    dest,
    requirement,
  ]);
}

async function onlyWheel(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".whl"));
  if (files.length !== 1) throw new Error(`${dir}: expected one wheel, found ${files.length}`);
  return join(dir, files[0]);
}

/** The headers the binding includes from TensorFlow, with everything they include, found in the wheel. */
export async function headerClosure(
  pkgDir: string,
  wheel: string,
  entries: Map<string, WheelEntry>,
): Promise<string[]> {
  const INCLUDE = /^\s*#\s*include\s+"([^"]+)"/gm;
  const PREFIX = "tensorflow/include/";
  const todo: string[] = [];
  const bindingDir = join(pkgDir, "binding");
  for (const f of await readdir(bindingDir)) {
    const text = await readFile(join(bindingDir, f), "utf8");
    for (const m of text.matchAll(INCLUDE)) if (entries.has(PREFIX + m[1])) todo.push(m[1]);
  }
  if (todo.length === 0)
    throw new Error(`${wheel}: none of the headers ${bindingDir} includes is in the wheel`);
  const seen = new Set<string>();
  while (todo.length) {
    const h = todo.pop()!;
    if (seen.has(h)) continue;
    seen.add(h);
    const text = (await readWheelEntry(wheel, entries.get(PREFIX + h)!)).toString("utf8");
    for (const m of text.matchAll(INCLUDE)) if (entries.has(PREFIX + m[1])) todo.push(m[1]);
  }
  return [...seen].sort();
}

/** Downloads the wheel(s), extracts libtensorflow (and, for GPUs, CUDA's libraries) and the headers into the cache. */
export async function fetchLibtensorflow(o: {
  flavor: NativeFlavor;
  python: string;
  cacheDir: string;
  pkgDir: string;
  log: (line: string) => void;
  setupCmd: string;
}): Promise<string[]> {
  const flavor = FLAVORS[o.flavor];
  const download = join(o.cacheDir, "download");
  await rm(download, { recursive: true, force: true });
  await mkdir(download, { recursive: true });
  const libDir = join(o.cacheDir, "lib");
  const incDir = join(o.cacheDir, "include");
  await rm(libDir, { recursive: true, force: true });
  await rm(incDir, { recursive: true, force: true });
  try {
    let wheel: string | undefined;
    const tried: string[] = [];
    for (const project of flavor.wheels) {
      const req = `${project}==${TENSORFLOW_VERSION}`;
      o.log(`downloading ${req} from PyPI with ${o.python} -m pip`);
      const r = pipDownload(o.python, req, download);
      if (r.status === 0) {
        wheel = await onlyWheel(download);
        break;
      }
      tried.push(`${req}: ${failureLine(r.stderr || r.stdout)}`);
    }
    if (!wheel)
      throw new SetupError(
        `pip found no TensorFlow ${TENSORFLOW_VERSION} wheel for this Python and platform (${tried.join("; ")})`,
        `use a Python that TensorFlow ${TENSORFLOW_VERSION} has wheels for (3.10-3.13) as PYTHON=python3.X ${o.setupCmd}`,
      );
    const entries = new Map((await listWheel(wheel)).map((e) => [e.name, e]));
    const libs = ["tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"];
    for (const l of libs) if (!entries.has(l)) throw new Error(`${wheel}: has no ${l}`);
    o.log(`extracting libtensorflow and its C API headers from ${wheel.slice(download.length + 1)}`);
    for (const l of libs)
      await extractWheelEntry(wheel, entries.get(l)!, join(libDir, l.slice("tensorflow/".length)));
    for (const h of await headerClosure(o.pkgDir, wheel, entries)) {
      await extractWheelEntry(wheel, entries.get(`tensorflow/include/${h}`)!, join(incDir, h));
    }
    // The names the binding links with (-ltensorflow -ltensorflow_framework).
    await symlink("libtensorflow_cc.so.2", join(libDir, "libtensorflow.so"));
    await symlink("libtensorflow_framework.so.2", join(libDir, "libtensorflow_framework.so"));
    const wheels = [wheel.slice(download.length + 1)];
    if (flavor.cuda) wheels.push(...(await fetchCudaLibraries({ ...o, wheel, entries, libDir, download })));
    return wheels;
  } finally {
    // The wheels are large and no longer needed: the cache keeps only what the binding loads.
    await rm(download, { recursive: true, force: true });
  }
}

/**
 * NVIDIA's libraries for the GPU build: the wheel's `and-cuda` extra names them. They go beside
 * libtensorflow, whose RUNPATH includes $ORIGIN, so its dlopen of libcudart, libcudnn… finds them.
 */
async function fetchCudaLibraries(o: {
  python: string;
  wheel: string;
  entries: Map<string, WheelEntry>;
  libDir: string;
  download: string;
  log: (line: string) => void;
}): Promise<string[]> {
  const metadata = [...o.entries.values()].find((e) => /\.dist-info\/METADATA$/.test(e.name));
  if (!metadata) throw new Error(`${o.wheel}: no METADATA`);
  const reqs = cudaRequirements((await readWheelEntry(o.wheel, metadata)).toString("utf8"));
  if (reqs.length === 0) throw new Error(`${o.wheel}: its METADATA names no and-cuda requirements`);
  const names: string[] = [];
  for (const req of reqs) {
    const dir = join(o.download, `cuda-${names.length}`);
    await mkdir(dir, { recursive: true });
    o.log(`downloading ${req}`);
    const r = pipDownload(o.python, req, dir);
    if (r.status !== 0)
      throw new SetupError(
        `pip could not download ${req}: ${failureLine(r.stderr)}`,
        "check that PyPI is reachable, then npm run setup:tensorflow -- --gpu",
      );
    const whl = await onlyWheel(dir);
    names.push(whl.slice(dir.length + 1));
    for (const e of await listWheel(whl)) {
      const m = /^nvidia\/[^/]+\/lib\/([^/]+\.so[^/]*)$/.exec(e.name);
      if (m) await extractWheelEntry(whl, e, join(o.libDir, m[1]));
    }
    await rm(dir, { recursive: true, force: true });
  }
  return names;
}

/** `Requires-Dist: nvidia-cudnn-cu12<10,>=9.3; extra == "and-cuda"` → `nvidia-cudnn-cu12<10,>=9.3`. */
export function cudaRequirements(metadata: string): string[] {
  const out: string[] = [];
  for (const line of metadata.split("\n")) {
    const m = /^Requires-Dist:\s*([^;]+);\s*extra\s*==\s*["']and-cuda["']\s*$/.exec(line.trim());
    if (m) out.push(m[1].replace(/\s+/g, "").replace(/\((.*)\)/, "$1"));
  }
  return out;
}

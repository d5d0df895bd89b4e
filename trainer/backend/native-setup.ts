// Builds the native TensorFlow backend offline. @tensorflow/tfjs-node's own install script downloads
// libtensorflow from a host an offline machine cannot reach, so radfleet takes the same C library
// out of the PyPI TensorFlow wheel (tensorflow-cpu for CPUs; tensorflow with NVIDIA's CUDA wheels
// for GPUs), compiles the tfjs-node binding against it with node-gyp, and caches both. Writes go to
// the cache and to the tfjs-node package in node_modules, nowhere else.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import {
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { extractWheelEntry, listWheel, readWheelEntry, type WheelEntry } from "./wheel.js";

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

export interface SetupOptions {
  flavor: NativeFlavor;
  /** Folder holding node_modules. */
  projectRoot: string;
  /** Default $RADFLEET_CACHE_DIR, else $XDG_CACHE_HOME/radfleet, else ~/.cache/radfleet. */
  cacheRoot?: string;
  /** Rebuild even when the cache has a binding. */
  force?: boolean;
  /** Progress lines (one per phase). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export type SetupResult =
  | {
      ok: true;
      flavor: NativeFlavor;
      pkg: string;
      tensorflowVersion: string;
      cacheDir: string;
      /** True when the cached build was reused (no download, no compile). */
      reused: boolean;
      seconds: number;
    }
  | { ok: false; flavor: NativeFlavor; pkg: string; reason: string; fix: string };

/** Raised for a setup step that cannot succeed on this machine: `reason` and the one `fix`. */
export class SetupError extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(reason);
  }
}

export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RADFLEET_CACHE_DIR) return resolve(env.RADFLEET_CACHE_DIR);
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "radfleet");
}

export function nativeCacheDir(cacheRoot: string, flavor: NativeFlavor): string {
  return join(cacheRoot, `libtensorflow-${TENSORFLOW_VERSION}-${flavor}-${process.platform}-${process.arch}`);
}

/** The N-API version node-pre-gyp would look for: the highest the package lists that Node supports. */
export function napiBuildVersion(pkgJson: { binary?: { napi_versions?: number[] } }): number {
  const supported = Number(process.versions.napi);
  const listed = (pkgJson.binary?.napi_versions ?? []).filter((v) => v <= supported);
  if (listed.length === 0)
    throw new SetupError(
      `Node's N-API ${supported} is older than any the binding supports`,
      "use Node.js 20 or newer",
    );
  return Math.max(...listed);
}

interface Manifest {
  tensorflowVersion: string;
  flavor: NativeFlavor;
  wheels: string[];
  python: string;
  tfjsNodeVersion: string;
  napi: number;
  builtAt: string;
}

export async function setupNative(opts: SetupOptions): Promise<SetupResult> {
  const { pkg } = FLAVORS[opts.flavor];
  try {
    return await setup(opts);
  } catch (err) {
    if (err instanceof SetupError)
      return { ok: false, flavor: opts.flavor, pkg, reason: err.reason, fix: err.fix };
    // Anything else (a full disk, no permission, a damaged download) is still one line, not a
    // stack: the build is optional, and radfleet runs on wasm without it.
    const cacheDir = nativeCacheDir(opts.cacheRoot ?? defaultCacheRoot(opts.env ?? process.env), opts.flavor);
    return {
      ok: false,
      flavor: opts.flavor,
      pkg,
      reason: `setup failed: ${err instanceof Error ? err.message : String(err)}`,
      fix: `fix what it names (disk space, permissions on ${cacheDir} or node_modules), then npm run setup:tensorflow -- ${opts.flavor === "gpu" ? "--gpu " : ""}--force`,
    };
  }
}

async function setup(opts: SetupOptions): Promise<SetupResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const env = opts.env ?? process.env;
  const flavor = FLAVORS[opts.flavor];
  const setupCmd = `npm run setup:tensorflow${opts.flavor === "gpu" ? " -- --gpu" : ""}`;
  if (process.platform !== "linux" || (process.arch !== "x64" && process.arch !== "arm64")) {
    throw new SetupError(
      `the native backend is built only on Linux x64/arm64 here (this is ${process.platform}-${process.arch})`,
      "nothing to fix: radfleet uses the wasm backend",
    );
  }
  const pkgDir = join(opts.projectRoot, "node_modules", flavor.pkg);
  if (!existsSync(join(pkgDir, "package.json"))) {
    throw new SetupError(
      `${flavor.pkg} is not installed in ${join(opts.projectRoot, "node_modules")}`,
      opts.flavor === "gpu"
        ? `npm install --no-save --ignore-scripts ${flavor.pkg}@4.22.0 && ${setupCmd}`
        : `npm ci && ${setupCmd}`,
    );
  }
  const pkgJson = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8")) as {
    version: string;
    binary?: { napi_versions?: number[] };
  };
  const napi = napiBuildVersion(pkgJson);
  const cacheDir = nativeCacheDir(opts.cacheRoot ?? defaultCacheRoot(env), opts.flavor);
  const bindingCache = join(
    cacheDir,
    `tfjs_binding-${flavor.pkg.slice(12)}-${pkgJson.version}-napi${napi}.node`,
  );
  let reused = !opts.force && existsSync(bindingCache) && existsSync(join(cacheDir, "manifest.json"));
  if (reused) {
    log(`reusing ${cacheDir}`);
  } else {
    await mkdir(cacheDir, { recursive: true });
    // A rebuild first forgets the old one, so a rebuild that fails half-way is never "reused" later.
    await rm(bindingCache, { force: true });
    const python = findPython(env);
    let wheels: string[];
    const manifestPath = join(cacheDir, "manifest.json");
    if (!opts.force && existsSync(join(cacheDir, "lib", "libtensorflow.so")) && existsSync(manifestPath)) {
      wheels = (JSON.parse(await readFile(manifestPath, "utf8")) as Manifest).wheels;
      log(`libtensorflow ${TENSORFLOW_VERSION} already in ${cacheDir}`);
    } else {
      await rm(manifestPath, { force: true });
      wheels = await fetchLibtensorflow({ flavor: opts.flavor, python, cacheDir, pkgDir, log, setupCmd });
    }
    await linkDeps(pkgDir, cacheDir);
    await buildBinding({ pkgDir, cacheDir, napi, python, bindingCache, env, log, setupCmd });
    const manifest: Manifest = {
      tensorflowVersion: TENSORFLOW_VERSION,
      flavor: opts.flavor,
      wheels,
      python,
      tfjsNodeVersion: pkgJson.version,
      napi,
      builtAt: new Date().toISOString(),
    };
    await writeFile(`${manifestPath}.tmp`, JSON.stringify(manifest, null, 2) + "\n");
    await rename(`${manifestPath}.tmp`, manifestPath);
    reused = false;
  }
  await linkDeps(pkgDir, cacheDir);
  const target = join(pkgDir, "lib", `napi-v${napi}`, "tfjs_binding.node");
  await mkdir(dirname(target), { recursive: true });
  await copyFile(bindingCache, `${target}.tmp`);
  await rename(`${target}.tmp`, target);
  const loaded = verify(opts.projectRoot, flavor.pkg, env);
  if (!loaded.ok) {
    // A binding that does not load must not be left where tfjs-node finds it: radfleet then falls back to wasm.
    await rm(target, { force: true });
    throw new SetupError(
      `the built binding does not load: ${loaded.error}`,
      `${setupCmd}${opts.flavor === "gpu" ? "" : " --"} --force`,
    );
  }
  log(`${flavor.pkg} loads: backend tensorflow, libtensorflow ${loaded.version}`);
  return {
    ok: true,
    flavor: opts.flavor,
    pkg: flavor.pkg,
    tensorflowVersion: loaded.version,
    cacheDir,
    reused,
    seconds: (Date.now() - t0) / 1000,
  };
}

function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 2 ** 20, ...options });
}

/** A Python with pip (pip fetches the wheel for this interpreter and platform; node-gyp's gyp is Python too). */
function findPython(env: NodeJS.ProcessEnv): string {
  const candidates = [env.PYTHON, "python3", "python"].filter((c): c is string => !!c);
  let sawPython = false;
  for (const c of candidates) {
    if (run(c, ["--version"]).status !== 0) continue;
    sawPython = true;
    if (run(c, ["-m", "pip", "--version"]).status === 0) return c;
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
  return run(python, [
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
async function headerClosure(
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
async function fetchLibtensorflow(o: {
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
      tried.push(`${req}: ${lastLine(r.stderr || r.stdout)}`);
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
        `pip could not download ${req}: ${lastLine(r.stderr)}`,
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

/** Points the package's deps/lib and deps/include (where binding.gyp and the binding's RUNPATH look) at the cache. */
async function linkDeps(pkgDir: string, cacheDir: string): Promise<void> {
  const deps = join(pkgDir, "deps");
  await mkdir(deps, { recursive: true });
  for (const name of ["lib", "include"]) {
    const link = join(deps, name);
    const target = join(cacheDir, name);
    // Trainers may be loading libtensorflow through this link right now: a link that is already
    // right is left alone, and a new one replaces the old by rename, so it never goes missing.
    if ((await readlink(link).catch(() => undefined)) === target) continue;
    const st = await lstat(link).catch(() => undefined);
    if (st && !st.isSymbolicLink()) await rm(link, { recursive: true, force: true });
    const tmp = `${link}.tmp-${process.pid}`;
    await rm(tmp, { force: true });
    await symlink(target, tmp);
    await rename(tmp, link);
  }
}

function nodeHeadersDir(env: NodeJS.ProcessEnv): string | undefined {
  const candidates = [env.RADFLEET_NODEDIR, resolve(dirname(process.execPath), "..")].filter(
    (c): c is string => !!c,
  );
  return candidates.find((d) => existsSync(join(d, "include", "node", "node_api.h")));
}

/** npm's own node-gyp: npm sets npm_config_node_gyp for scripts; otherwise it sits beside npm. */
function findNodeGyp(env: NodeJS.ProcessEnv): string | undefined {
  const prefix = resolve(dirname(process.execPath), "..");
  const candidates = [
    env.npm_config_node_gyp,
    join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    join(prefix, "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ].filter((c): c is string => !!c);
  return candidates.find((c) => existsSync(c));
}

async function buildBinding(o: {
  pkgDir: string;
  cacheDir: string;
  napi: number;
  python: string;
  bindingCache: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  setupCmd: string;
}): Promise<void> {
  const cxx = o.env.CXX || "g++";
  if (run(cxx, ["--version"]).status !== 0 || run("make", ["--version"]).status !== 0)
    throw new SetupError(
      "no C++ compiler or make (the tfjs-node binding is compiled here)",
      `apt-get install -y g++ make, then ${o.setupCmd}`,
    );
  const nodedir = nodeHeadersDir(o.env);
  if (!nodedir)
    throw new SetupError(
      `Node.js's headers (include/node/node_api.h) are not beside ${process.execPath}`,
      `install Node.js's headers (Debian: apt-get install -y libnode-dev) or set RADFLEET_NODEDIR to a Node.js install prefix, then ${o.setupCmd}`,
    );
  const nodeGyp = findNodeGyp(o.env);
  if (!nodeGyp)
    throw new SetupError(
      "npm's node-gyp was not found",
      `run it through npm (${o.setupCmd}) so npm names its node-gyp`,
    );
  const buildLog = join(o.cacheDir, "build.log");
  o.log(`compiling the binding with node-gyp (log: ${buildLog})`);
  const r = run(
    process.execPath,
    [
      nodeGyp,
      "rebuild",
      `--nodedir=${nodedir}`,
      // node-gyp keeps its own files in devdir; it stays inside radfleet's cache.
      `--devdir=${join(o.cacheDir, "node-gyp")}`,
      `--python=${o.python}`,
      "--module_name=tfjs_binding",
      `--module_path=${join(o.pkgDir, "lib", `napi-v${o.napi}`)}`,
      `--napi_build_version=${o.napi}`,
    ],
    { cwd: o.pkgDir, env: { ...o.env, CXX: cxx } },
  );
  await writeFile(buildLog, `${r.stdout ?? ""}\n${r.stderr ?? ""}`);
  const built = join(o.pkgDir, "build", "Release", "tfjs_binding.node");
  if (r.status !== 0 || !existsSync(built))
    throw new SetupError(
      `node-gyp could not build the binding: ${lastLine(r.stderr) || "see " + buildLog}`,
      `read ${buildLog}, fix what it names, then ${o.setupCmd}`,
    );
  await copyFile(built, `${o.bindingCache}.tmp`);
  await rename(`${o.bindingCache}.tmp`, o.bindingCache);
  await rm(join(o.pkgDir, "build"), { recursive: true, force: true });
}

/** Loads the package in a child process (a crash there must not take setup down) and asks for its backend. */
function verify(
  projectRoot: string,
  pkg: string,
  env: NodeJS.ProcessEnv,
): { ok: true; version: string } | { ok: false; error: string } {
  const script = `const tf = await import(${JSON.stringify(pkg)});
await tf.ready();
if (tf.getBackend() !== "tensorflow") throw new Error("backend is " + tf.getBackend());
const s = tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync();
if (s[0] !== 2) throw new Error("matMul gave " + s[0]);
console.log(JSON.stringify({ version: tf.backend().binding.TF_Version }));`;
  const r = run(process.execPath, ["--input-type=module", "-e", script], {
    cwd: projectRoot,
    env: { ...env, TF_CPP_MIN_LOG_LEVEL: env.TF_CPP_MIN_LOG_LEVEL ?? "2" },
  });
  if (r.status !== 0) return { ok: false, error: lastLine(r.stderr) || `exit ${r.status ?? r.signal}` };
  try {
    return { ok: true, version: (JSON.parse(lastLine(r.stdout)) as { version: string }).version };
  } catch {
    return { ok: false, error: `unexpected output ${JSON.stringify(lastLine(r.stdout))}` };
  }
}

/** The line of a tool's output that says what went wrong: its error line, else its last line. */
function lastLine(text: string | null | undefined): string {
  const lines = (text ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^at /.test(l) && !/^Node\.js v\d/.test(l));
  return lines.find((l) => /^(\w*Error|ERROR|error)\b/.test(l)) ?? lines.at(-1) ?? "";
}

/** Reads what a previous setup recorded (doctor reports it). */
export function readManifest(cacheDir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(cacheDir, "manifest.json"), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

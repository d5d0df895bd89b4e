// Builds the native TensorFlow backend offline. @tensorflow/tfjs-node's own install script downloads
// libtensorflow from a host an offline machine cannot reach, so radfleet takes the same C library
// out of the PyPI TensorFlow wheel (tensorflow-cpu for CPUs; tensorflow with NVIDIA's CUDA wheels
// for GPUs), compiles the tfjs-node binding against it with node-gyp, and caches both. Writes go to
// the cache and to the tfjs-node package in node_modules, nowhere else.
// This file is the order of the steps and the cache decisions; each step lives in its own module.
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { buildBinding, linkDeps, napiBuildVersion, verifyBinding } from "./binding-build.js";
import { fetchLibtensorflow, findPython } from "./libtensorflow-fetch.js";
import {
  defaultCacheRoot,
  FLAVORS,
  nativeCacheDir,
  TENSORFLOW_VERSION,
  writeManifest,
  type NativeFlavor,
  type NativeManifest,
} from "./native-cache.js";
import { SetupError } from "./setup-tools.js";

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
      wheels = (JSON.parse(await readFile(manifestPath, "utf8")) as NativeManifest).wheels;
      log(`libtensorflow ${TENSORFLOW_VERSION} already in ${cacheDir}`);
    } else {
      await rm(manifestPath, { force: true });
      wheels = await fetchLibtensorflow({ flavor: opts.flavor, python, cacheDir, pkgDir, log, setupCmd });
    }
    await linkDeps(pkgDir, cacheDir);
    await buildBinding({ pkgDir, cacheDir, napi, python, bindingCache, env, log, setupCmd });
    await writeManifest(cacheDir, {
      tensorflowVersion: TENSORFLOW_VERSION,
      flavor: opts.flavor,
      wheels,
      python,
      tfjsNodeVersion: pkgJson.version,
      napi,
      builtAt: new Date().toISOString(),
    });
    reused = false;
  }
  await linkDeps(pkgDir, cacheDir);
  const target = join(pkgDir, "lib", `napi-v${napi}`, "tfjs_binding.node");
  await mkdir(dirname(target), { recursive: true });
  await copyFile(bindingCache, `${target}.tmp`);
  await rename(`${target}.tmp`, target);
  const loaded = verifyBinding(opts.projectRoot, flavor.pkg, env);
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

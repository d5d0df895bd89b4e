// The tfjs-node binding compiled against the cached libtensorflow: the package's deps/ pointed at
// the cache, node-gyp (npm's own) run with Node's headers, the result copied into the cache, and a
// load check in a child process before anything relies on it.
import { existsSync } from "node:fs";
import { copyFile, lstat, mkdir, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { failureLine, runTool, SetupError } from "./setup-tools.js";

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

/** Points the package's deps/lib and deps/include (where binding.gyp and the binding's RUNPATH look) at the cache. */
export async function linkDeps(pkgDir: string, cacheDir: string): Promise<void> {
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

/** A Node.js install prefix with the N-API headers node-gyp compiles against. */
export function nodeHeadersDir(env: NodeJS.ProcessEnv): string | undefined {
  const candidates = [env.RADFLEET_NODEDIR, resolve(dirname(process.execPath), "..")].filter(
    (c): c is string => !!c,
  );
  return candidates.find((d) => existsSync(join(d, "include", "node", "node_api.h")));
}

/** npm's own node-gyp: npm sets npm_config_node_gyp for scripts; otherwise it sits beside npm. */
export function findNodeGyp(env: NodeJS.ProcessEnv): string | undefined {
  const prefix = resolve(dirname(process.execPath), "..");
  const candidates = [
    env.npm_config_node_gyp,
    join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    join(prefix, "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ].filter((c): c is string => !!c);
  return candidates.find((c) => existsSync(c));
}

/** Compiles the binding into the package and copies it to `bindingCache` (by rename, so a half-written one is never there). */
export async function buildBinding(o: {
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
  if (runTool(cxx, ["--version"]).status !== 0 || runTool("make", ["--version"]).status !== 0)
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
  const r = runTool(
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
      `node-gyp could not build the binding: ${failureLine(r.stderr) || "see " + buildLog}`,
      `read ${buildLog}, fix what it names, then ${o.setupCmd}`,
    );
  await copyFile(built, `${o.bindingCache}.tmp`);
  await rename(`${o.bindingCache}.tmp`, o.bindingCache);
  await rm(join(o.pkgDir, "build"), { recursive: true, force: true });
}

/** Loads the package in a child process (a crash there must not take setup down) and asks for its backend. */
export function verifyBinding(
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
  const r = runTool(process.execPath, ["--input-type=module", "-e", script], {
    cwd: projectRoot,
    env: { ...env, TF_CPP_MIN_LOG_LEVEL: env.TF_CPP_MIN_LOG_LEVEL ?? "2" },
  });
  if (r.status !== 0) return { ok: false, error: failureLine(r.stderr) || `exit ${r.status ?? r.signal}` };
  try {
    return { ok: true, version: (JSON.parse(failureLine(r.stdout)) as { version: string }).version };
  } catch {
    return { ok: false, error: `unexpected output ${JSON.stringify(failureLine(r.stdout))}` };
  }
}

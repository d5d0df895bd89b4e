// Compiling and checking the tfjs-node binding (binding-build.ts), on real folders and real child
// processes: the N-API version chosen, the deps/ links a running trainer may be loading through,
// where node-gyp and Node's headers are found, the compiler check, and the load check. The
// packages the load check is pointed at here are fakes (a real binding is checked by setup.test's
// cached run).
import { lstat, mkdir, mkdtemp, readdir, readlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildBinding,
  findNodeGyp,
  linkDeps,
  napiBuildVersion,
  nodeHeadersDir,
  verifyBinding,
} from "../../trainer/backend/binding-build.js";
import { SetupError } from "../../trainer/backend/setup-tools.js";

const tmp = (name: string) => mkdtemp(join(tmpdir(), `radfleet-${name}-`));

describe("napiBuildVersion", () => {
  it("picks the highest N-API version the package lists that this Node supports", () => {
    const node = Number(process.versions.napi);
    expect(napiBuildVersion({ binary: { napi_versions: [3, node, node + 1, 4] } })).toBe(node);
    // Node 20 supports N-API 9: a package listing older versions only gets the newest of them.
    expect(napiBuildVersion({ binary: { napi_versions: [3, 5] } })).toBe(5);
  });

  it("refuses, with the fix, when Node supports none of them", () => {
    const node = Number(process.versions.napi);
    let err: unknown;
    try {
      napiBuildVersion({ binary: { napi_versions: [node + 1] } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SetupError);
    expect((err as SetupError).fix).toBe("use Node.js 20 or newer");
    expect(() => napiBuildVersion({})).toThrow(/older than any the binding supports/);
  });
});

describe("linkDeps", () => {
  it("points deps/lib and deps/include at the cache, replacing a real folder and keeping a right link", async () => {
    const pkgDir = await tmp("pkg");
    const cacheDir = await tmp("cache");
    await mkdir(join(pkgDir, "deps", "lib"), { recursive: true });
    await writeFile(join(pkgDir, "deps", "lib", "libtensorflow.so"), "from the npm download");
    await linkDeps(pkgDir, cacheDir);
    expect(await readlink(join(pkgDir, "deps", "lib"))).toBe(join(cacheDir, "lib"));
    expect(await readlink(join(pkgDir, "deps", "include"))).toBe(join(cacheDir, "include"));
    const before = await lstat(join(pkgDir, "deps", "lib"));
    await linkDeps(pkgDir, cacheDir);
    // Untouched, not re-created: a trainer loading through it never sees it missing.
    expect((await lstat(join(pkgDir, "deps", "lib"))).ino).toBe(before.ino);
    expect((await readdir(join(pkgDir, "deps"))).sort()).toEqual(["include", "lib"]);
    const other = await tmp("cache2");
    await linkDeps(pkgDir, other);
    expect(await readlink(join(pkgDir, "deps", "lib"))).toBe(join(other, "lib"));
  });
});

describe("finding the build tools", () => {
  it("takes Node's headers from RADFLEET_NODEDIR when they are there, and never a prefix without them", async () => {
    const prefix = await tmp("nodedir");
    expect(nodeHeadersDir({ RADFLEET_NODEDIR: prefix })).not.toBe(prefix);
    await mkdir(join(prefix, "include", "node"), { recursive: true });
    await writeFile(join(prefix, "include", "node", "node_api.h"), "");
    expect(nodeHeadersDir({ RADFLEET_NODEDIR: prefix })).toBe(prefix);
  });

  it("takes the node-gyp npm names for scripts when it exists", async () => {
    const gyp = join(await tmp("gyp"), "node-gyp.js");
    expect(findNodeGyp({ npm_config_node_gyp: gyp })).not.toBe(gyp);
    await writeFile(gyp, "");
    expect(findNodeGyp({ npm_config_node_gyp: gyp })).toBe(gyp);
  });

  it("refuses to build without a C++ compiler, naming the packages to install", async () => {
    const cacheDir = await tmp("cache");
    const build = buildBinding({
      pkgDir: await tmp("pkg"),
      cacheDir,
      napi: 8,
      python: "python3",
      bindingCache: join(cacheDir, "tfjs_binding.node"),
      env: { ...process.env, CXX: "/nonexistent/g++" },
      log: () => {},
      setupCmd: "npm run setup:tensorflow",
    });
    await expect(build).rejects.toMatchObject({
      reason: "no C++ compiler or make (the tfjs-node binding is compiled here)",
      fix: "apt-get install -y g++ make, then npm run setup:tensorflow",
    });
    expect(await readdir(cacheDir)).toEqual([]);
  });
});

describe("verifyBinding (fake packages)", () => {
  async function project(index: string): Promise<string> {
    const root = await tmp("project");
    const pkg = join(root, "node_modules", "fake-tfjs-node");
    await mkdir(pkg, { recursive: true });
    await writeFile(
      join(pkg, "package.json"),
      JSON.stringify({ name: "fake-tfjs-node", type: "module", main: "index.js" }),
    );
    await writeFile(join(pkg, "index.js"), index);
    return root;
  }

  it("reports the package's error line when it does not load, or loads another backend", async () => {
    const crashing = await project(
      'throw new Error("libtensorflow.so.2: cannot open shared object file");\n',
    );
    expect(verifyBinding(crashing, "fake-tfjs-node", process.env)).toEqual({
      ok: false,
      error: "Error: libtensorflow.so.2: cannot open shared object file",
    });
    const wasm = await project(
      'export const ready = async () => {};\nexport const getBackend = () => "wasm";\n',
    );
    expect(verifyBinding(wasm, "fake-tfjs-node", process.env)).toEqual({
      ok: false,
      error: "Error: backend is wasm",
    });
  });
});

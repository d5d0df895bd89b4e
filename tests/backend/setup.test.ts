// `npm run setup:tensorflow`: the cached second run, and the one clear line on a machine where the
// native backend cannot be built (here: no Python to fetch the wheel with). The first, uncached run
// (download, extract, compile) is what `npm test` itself does before the suite, so every run of the
// suite exercises it where the cache is cold.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readlink, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cudaRequirements } from "../../trainer/backend/libtensorflow-fetch.js";
import { HAS_TENSORFLOW } from "../helpers/backends.js";

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");
const SCRIPT = join(ROOT, "scripts/setup-tensorflow.ts");
const DEPS_LIB = join(ROOT, "node_modules/@tensorflow/tfjs-node/deps/lib");

async function setup(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await exec(process.execPath, ["--import", "tsx", SCRIPT, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe("npm run setup:tensorflow", () => {
  it.skipIf(!HAS_TENSORFLOW)(
    "a second run reuses the cache: no download, no compile, and the binding loads",
    async () => {
      const t0 = Date.now();
      const r = await setup([]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/@tensorflow\/tfjs-node ready on libtensorflow 2\.21\.0 \(cached in [\d.]+ s;/);
      expect(r.out).not.toMatch(/downloading|compiling/);
      console.log(`cached setup: ${Date.now() - t0} ms`);
    },
  );

  it("without Python: one line with the reason and the fix, exit 0 (wasm goes on), exit 1 with --strict; node_modules untouched", async () => {
    // A PATH with node alone, and an empty cache, so nothing can be reused.
    const bin = await mkdtemp(join(tmpdir(), "radfleet-nopython-"));
    await symlink(process.execPath, join(bin, "node"));
    const cache = await mkdtemp(join(tmpdir(), "radfleet-cache-"));
    const before = await readlink(DEPS_LIB).catch(() => "absent");
    const env = { PATH: bin, PYTHON: "", RADFLEET_CACHE_DIR: cache };
    const soft = await setup([], env);
    expect(soft.code, soft.out).toBe(0);
    const lines = soft.out.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^setup:tensorflow: the native backend is not available: no Python 3 found \(pip fetches the TensorFlow wheel\)\. Fix: apt-get install -y python3 python3-pip, then npm run setup:tensorflow\. Until then radfleet runs on wasm\.$/,
    );
    expect((await setup(["--strict", "--quiet"], env)).code).toBe(1);
    expect(await readlink(DEPS_LIB).catch(() => "absent")).toBe(before);
    // The cache holds at most the (empty) folder for this build.
    const made = await readdir(cache, { recursive: true });
    expect(made.every((f) => !/\.so|\.node|\.whl/.test(f))).toBe(true);
    expect(dirname(DEPS_LIB)).toContain("node_modules");
  });

  it("a usage error for an unknown flag", async () => {
    const r = await setup(["--frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/usage: npm run setup:tensorflow/);
  });
});

describe("GPU flavour: NVIDIA's wheels from the TensorFlow wheel's and-cuda extra", () => {
  it("reads Requires-Dist lines with the and-cuda marker only", () => {
    const metadata = [
      "Metadata-Version: 2.1",
      "Name: tensorflow",
      "Requires-Dist: numpy>=1.26.0",
      'Requires-Dist: nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"',
      "Requires-Dist: nvidia-cudnn-cu12 (<10.0,>=9.3.0.75) ; extra == 'and-cuda'",
      'Requires-Dist: tensorflow-io-gcs-filesystem>=0.23.1; python_version < "3.12"',
      'Requires-Dist: tensorrt==10.0; extra == "and-tensorrt"',
    ].join("\n");
    expect(cudaRequirements(metadata)).toEqual([
      "nvidia-cublas-cu12<13.0,>=12.5.3.2",
      "nvidia-cudnn-cu12<10.0,>=9.3.0.75",
    ]);
  });
});

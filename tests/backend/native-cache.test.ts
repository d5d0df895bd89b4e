// Where the native build is kept and what it records (native-cache.ts): the folder setup writes
// and doctor reads, and the manifest round trip between them.
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  defaultCacheRoot,
  nativeCacheDir,
  readManifest,
  TENSORFLOW_VERSION,
  writeManifest,
  type NativeManifest,
} from "../../trainer/backend/native-cache.js";

describe("native cache", () => {
  it("RADFLEET_CACHE_DIR wins, then XDG_CACHE_HOME, then ~/.cache", () => {
    expect(defaultCacheRoot({ RADFLEET_CACHE_DIR: "rel/cache", XDG_CACHE_HOME: "/xdg" })).toBe(
      resolve("rel/cache"),
    );
    expect(defaultCacheRoot({ XDG_CACHE_HOME: "/xdg" })).toBe("/xdg/radfleet");
    expect(defaultCacheRoot({ XDG_CACHE_HOME: "" })).toBe(join(homedir(), ".cache", "radfleet"));
  });

  it("keeps one folder per TensorFlow version, flavour and platform", () => {
    const cpu = nativeCacheDir("/c", "cpu");
    expect(cpu).toBe(`/c/libtensorflow-${TENSORFLOW_VERSION}-cpu-${process.platform}-${process.arch}`);
    expect(nativeCacheDir("/c", "gpu")).not.toBe(cpu);
  });

  it("reads back the manifest setup wrote, leaving no temporary file; nothing for a missing or damaged one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-native-cache-"));
    expect(readManifest(dir)).toBeUndefined();
    const m: NativeManifest = {
      tensorflowVersion: TENSORFLOW_VERSION,
      flavor: "cpu",
      wheels: ["tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_17_x86_64.whl"],
      python: "python3",
      tfjsNodeVersion: "4.22.0",
      napi: 8,
      builtAt: "2026-01-01T00:00:00.000Z",
    };
    await writeManifest(dir, m);
    expect(readManifest(dir)).toEqual(m);
    expect(await readdir(dir)).toEqual(["manifest.json"]);
    await writeFile(join(dir, "manifest.json"), "{ half a manifest");
    expect(readManifest(dir)).toBeUndefined();
  });
});

import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DirectoryStore } from "../../trainer/checkpoint/directory-store.js";
import { CheckpointPartMissingError, checkpointKey, sha256Hex } from "../../trainer/checkpoint/store.js";

describe("directory checkpoint store", () => {
  it("writes parts atomically with their sha256, reads them back, and prunes by key", async () => {
    const root = await mkdtemp(join(tmpdir(), "radfleet-ckpt-"));
    const store = new DirectoryStore(root);
    const data = new TextEncoder().encode("adapter bytes");
    const part = await store.put(checkpointKey(40), "adapter_model.safetensors", data);
    expect(part).toEqual({
      name: "adapter_model.safetensors",
      uri: join(root, "step-000000040", "adapter_model.safetensors"),
      size: data.byteLength,
      sha256: sha256Hex(data),
    });
    expect(await readdir(join(root, "step-000000040"))).toEqual(["adapter_model.safetensors"]); // no temp files left
    expect(new TextDecoder().decode(await store.get(part.uri))).toBe("adapter bytes");
    await store.remove(checkpointKey(40));
    expect(await readdir(root)).toEqual([]);
  });

  it("a failed write leaves the previously committed part untouched", async () => {
    const root = await mkdtemp(join(tmpdir(), "radfleet-ckpt-"));
    const store = new DirectoryStore(root);
    const good = await store.put(
      checkpointKey(10),
      "trainer_state.json",
      new TextEncoder().encode('{"step":10}'),
    );
    // A regular file where the next checkpoint's directory must go makes the write fail for real.
    await writeFile(join(root, checkpointKey(20)), "in the way");
    await expect(
      store.put(checkpointKey(20), "trainer_state.json", new TextEncoder().encode("{}")),
    ).rejects.toThrow(/EEXIST|ENOTDIR/);
    expect(await readFile(good.uri, "utf8")).toBe('{"step":10}');
  });

  it("a part that is gone is told apart from a read that failed (only the first falls back on restore)", async () => {
    const root = await mkdtemp(join(tmpdir(), "radfleet-ckpt-"));
    const store = new DirectoryStore(root);
    const part = await store.put(checkpointKey(8), "optimizer.safetensors", new Uint8Array([1, 2, 3]));
    await store.remove(checkpointKey(8));
    const gone = await store.get(part.uri).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(CheckpointPartMissingError);
    expect((gone as Error).message).toContain(part.uri);
    // Not readable, but there: a directory where the part should be (EISDIR).
    const failed = await store.get(root).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(failed).not.toBeInstanceOf(CheckpointPartMissingError);
  });

  it("orders checkpoint keys by step", () => {
    expect([checkpointKey(100), checkpointKey(9), checkpointKey(40)].sort()).toEqual([
      "step-000000009",
      "step-000000040",
      "step-000000100",
    ]);
  });
});

import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DirectoryStore } from "../../trainer/checkpoint/directory-store.js";
import {
  CheckpointPartMissingError,
  CheckpointPartRefusedError,
  checkpointKey,
  sha256Hex,
} from "../../trainer/checkpoint/store.js";

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
    expect(new TextDecoder().decode(await store.get(part))).toBe("adapter bytes");
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
    const gone = await store.get(part).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(CheckpointPartMissingError);
    expect((gone as Error).message).toContain(part.uri);
    // Not readable for another reason: a file where a directory of its path should be (ENOTDIR).
    const blocker = await store.put(checkpointKey(9), "trainer_state.json", new Uint8Array([1]));
    const failed = await store.get({ uri: join(blocker.uri, "x"), size: 1 }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(failed).not.toBeInstanceOf(CheckpointPartMissingError);
  });

  it("a manifest naming a path outside the store, through a link, or not a regular file is refused unread", async () => {
    const root = await mkdtemp(join(tmpdir(), "radfleet-ckpt-"));
    const store = new DirectoryStore(root);
    const refusal = (uri: string, size = 10) => store.get({ uri, size }).catch((e: unknown) => e);
    const outside = await refusal("/dev/zero", 1 << 30);
    expect(outside).toBeInstanceOf(CheckpointPartRefusedError);
    expect((outside as Error).message).toBe(
      `checkpoint part /dev/zero: refused, not inside the store ${root}`,
    );
    expect(await refusal(join(root, "..", "elsewhere"))).toBeInstanceOf(CheckpointPartRefusedError);
    expect(await refusal("step-000000001/adapter_model.safetensors")).toBeInstanceOf(
      CheckpointPartRefusedError,
    );
    // Inside by name, outside in fact: a link planted in the store.
    await mkdir(join(root, "step-000000001"));
    await symlink("/dev/zero", join(root, "step-000000001", "adapter_model.safetensors"));
    const linked = await refusal(join(root, "step-000000001", "adapter_model.safetensors"), 1 << 30);
    expect((linked as Error).message).toMatch(/refused, it resolves to \/dev\/zero, outside the store/);
    // A FIFO would block a plain open until someone writes to it.
    const fifo = join(root, "step-000000001", "optimizer.safetensors");
    execFileSync("mkfifo", [fifo]);
    expect((await refusal(fifo)) as Error).toMatchObject({
      message: expect.stringMatching(/not a regular file$/),
    });
  });

  it("a part whose size is not the manifest's is refused before it is read, and never over-read", async () => {
    const root = await mkdtemp(join(tmpdir(), "radfleet-ckpt-"));
    const store = new DirectoryStore(root);
    const part = await store.put(checkpointKey(3), "adapter_model.safetensors", new Uint8Array(100));
    const before = process.memoryUsage().arrayBuffers;
    const big = await store.get({ ...part, size: 2 ** 31 }).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(CheckpointPartRefusedError);
    expect((big as Error).message).toMatch(/it has 100 bytes, the manifest records 2147483648$/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    expect(await store.get({ ...part, size: 99 }).catch((e: unknown) => e)).toBeInstanceOf(
      CheckpointPartRefusedError,
    );
    expect((await store.get(part)).byteLength).toBe(100);
  });

  it("orders checkpoint keys by step", () => {
    expect([checkpointKey(100), checkpointKey(9), checkpointKey(40)].sort()).toEqual([
      "step-000000009",
      "step-000000040",
      "step-000000100",
    ]);
  });
});

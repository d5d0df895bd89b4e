// The NATS object store on a real nats-server: parts round-trip, and a manifest's uri is checked
// before anything is fetched: another run's prefix in a shared bucket, or a size that is not the
// object's, is refused; an object that is gone is told apart (a restore falls back past both).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsObjectStore } from "../../trainer/checkpoint/nats-store.js";
import {
  CheckpointPartMissingError,
  CheckpointPartRefusedError,
  checkpointKey,
} from "../../trainer/checkpoint/store.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats.stop();
});

describe("NATS object checkpoint store", () => {
  it("reads back only this run's parts, at the size the manifest records", async () => {
    const mine = await NatsObjectStore.open({ url: nats.url, bucket: "ckpt", prefix: "run-a" });
    const theirs = await NatsObjectStore.open({ url: nats.url, bucket: "ckpt", prefix: "run-b" });
    try {
      const data = Uint8Array.from({ length: 300_000 }, (_, i) => i & 255); // several chunks
      const part = await mine.put(checkpointKey(5), "optimizer.safetensors", data);
      expect(part.uri).toBe(`nats-obj://ckpt/run-a/${checkpointKey(5)}/optimizer.safetensors`);
      expect(Buffer.from(await mine.get(part)).equals(Buffer.from(data))).toBe(true);

      const other = await theirs.put(checkpointKey(5), "optimizer.safetensors", new Uint8Array(10));
      const crossed = await mine.get(other).catch((e: unknown) => e);
      expect(crossed).toBeInstanceOf(CheckpointPartRefusedError);
      expect((crossed as Error).message).toContain("not under nats-obj://ckpt/run-a/");
      const foreign = await mine.get({ uri: "/dev/zero", size: 1 }).catch((e: unknown) => e);
      expect(foreign).toBeInstanceOf(CheckpointPartRefusedError);

      const sized = await mine.get({ ...part, size: 2 ** 31 }).catch((e: unknown) => e);
      expect(sized).toBeInstanceOf(CheckpointPartRefusedError);
      expect((sized as Error).message).toMatch(/it has 300000 bytes, the manifest records 2147483648$/);

      await mine.remove(checkpointKey(5));
      expect(await mine.get(part).catch((e: unknown) => e)).toBeInstanceOf(CheckpointPartMissingError);
    } finally {
      await mine.close();
      await theirs.close();
    }
  });
});

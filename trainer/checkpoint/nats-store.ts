// A checkpoint store in a NATS JetStream object store: for clusters without a shared volume.
// put() returns only after the server acknowledged the whole object (JetStream persists it before
// acking), which is what makes reporting the part to the coordinator safe.
//
// Reading back follows a manifest, so its uri must name an object under this run's prefix (not
// another run's in a shared bucket, not a link elsewhere), and the object's recorded size must be
// the manifest's before its chunks are fetched (get starts fetching all of them at once); no more
// than that many bytes are taken from the stream.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import {
  CheckpointPartMissingError,
  CheckpointPartRefusedError,
  sha256Hex,
  type CheckpointStore,
  type StoredPart,
} from "./store.js";

export interface NatsStoreOptions {
  url: string;
  bucket: string;
  /** Objects are named <prefix>/<checkpoint key>/<part>, so runs can share a bucket. */
  prefix: string;
  timeoutMs?: number;
}

const SCHEME = "nats-obj://";

export class NatsObjectStore implements CheckpointStore {
  readonly location: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly os: ObjectStore,
    private readonly opts: NatsStoreOptions,
  ) {
    this.location = `${SCHEME}${opts.bucket}/${opts.prefix}`;
  }

  static async open(opts: NatsStoreOptions): Promise<NatsObjectStore> {
    const nc = await connect({
      servers: opts.url,
      timeout: opts.timeoutMs ?? 5000,
      maxReconnectAttempts: -1,
    }).catch((err: unknown) => {
      throw new Error(`checkpoint store ${SCHEME}${opts.bucket} at ${opts.url}: ${(err as Error).message}`);
    });
    try {
      const os = await new Objm(nc).create(opts.bucket);
      return new NatsObjectStore(nc, os, opts);
    } catch (err) {
      await nc.close();
      throw new Error(`checkpoint store ${SCHEME}${opts.bucket}: ${(err as Error).message}`);
    }
  }

  private objectName(key: string, name: string): string {
    return `${this.opts.prefix}/${key}/${name}`;
  }

  async put(key: string, name: string, data: Uint8Array): Promise<StoredPart> {
    const object = this.objectName(key, name);
    await this.os.putBlob({ name: object }, data);
    return {
      name,
      uri: `${SCHEME}${this.opts.bucket}/${object}`,
      size: data.byteLength,
      sha256: sha256Hex(data),
    };
  }

  async get(part: Pick<StoredPart, "uri" | "size">): Promise<Uint8Array> {
    const { uri, size } = part;
    const bucket = `${SCHEME}${this.opts.bucket}/`;
    const name = uri.slice(bucket.length);
    if (!uri.startsWith(bucket) || !name.startsWith(`${this.opts.prefix}/`)) {
      throw new CheckpointPartRefusedError(uri, `not under ${bucket}${this.opts.prefix}/`);
    }
    const sized = (recorded: number): void => {
      if (recorded !== size)
        throw new CheckpointPartRefusedError(uri, `it has ${recorded} bytes, the manifest records ${size}`);
    };
    const info = await this.os.info(name);
    if (!info || info.deleted) throw new CheckpointPartMissingError(uri);
    if (info.options?.link) throw new CheckpointPartRefusedError(uri, "it is a link to another object");
    sized(info.size);
    const r = await this.os.get(name);
    if (!r) throw new CheckpointPartMissingError(uri);
    const reader = r.data.getReader();
    try {
      sized(r.info.size); // replaced since the info above
      const out = new Uint8Array(size);
      let off = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (off + value.length > size) {
          throw new CheckpointPartRefusedError(uri, `its chunks bring more than the ${size} bytes recorded`);
        }
        out.set(value, off);
        off += value.length;
      }
      const err = await r.error;
      if (err) throw err;
      if (off !== size) throw new CheckpointPartRefusedError(uri, `its chunks bring ${off} of ${size} bytes`);
      return out;
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  async remove(key: string): Promise<void> {
    const prefix = `${this.opts.prefix}/${key}/`;
    const entries = await this.os.list();
    for (const e of entries) if (e.name.startsWith(prefix)) await this.os.delete(e.name);
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

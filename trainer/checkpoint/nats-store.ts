// A checkpoint store in a NATS JetStream object store: for clusters without a shared volume.
// put() returns only after the server acknowledged the whole object (JetStream persists it before
// acking), which is what makes reporting the part to the coordinator safe.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { CheckpointPartMissingError, sha256Hex, type CheckpointStore, type StoredPart } from "./store.js";

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

  async get(uri: string): Promise<Uint8Array> {
    const prefix = `${SCHEME}${this.opts.bucket}/`;
    if (!uri.startsWith(prefix)) throw new Error(`checkpoint part ${uri}: not in ${prefix}`);
    const data = await this.os.getBlob(uri.slice(prefix.length));
    if (!data) throw new CheckpointPartMissingError(uri);
    return data;
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

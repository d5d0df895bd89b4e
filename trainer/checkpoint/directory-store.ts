// A checkpoint store on a file system (local disk or a PVC). Each part is written to a temporary
// name, fsynced, renamed into place, and the directory fsynced, so a crash leaves either the old
// state or the complete new part, never a torn file.
import { mkdir, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../../common/fs.js";
import { CheckpointPartMissingError, sha256Hex, type CheckpointStore, type StoredPart } from "./store.js";

export class DirectoryStore implements CheckpointStore {
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  async put(key: string, name: string, data: Uint8Array): Promise<StoredPart> {
    const dir = join(this.location, key);
    await mkdir(dir, { recursive: true });
    const path = join(dir, name);
    await writeFileAtomic(path, data);
    return { name, uri: path, size: data.byteLength, sha256: sha256Hex(data) };
  }

  async get(uri: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(uri));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CheckpointPartMissingError(uri);
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(join(this.location, key), { recursive: true, force: true });
  }

  async close(): Promise<void> {}
}

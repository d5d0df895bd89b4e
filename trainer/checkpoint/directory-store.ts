// A checkpoint store on a file system (local disk or a PVC). Each part is written to a temporary
// name, fsynced, renamed into place, and the directory fsynced, so a crash leaves either the old
// state or the complete new part, never a torn file.
//
// Reading back follows a manifest the coordinator hands out, so its uri is not trusted: the path,
// symbolic links resolved, must lie inside the store's root, be a regular file (not /dev/zero, not
// a FIFO that would block) and have the recorded size, all checked on the open file before reading.
import { constants } from "node:fs";
import { mkdir, open, realpath, rm } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { writeFileAtomic } from "../../common/fs.js";
import {
  CheckpointPartMissingError,
  CheckpointPartRefusedError,
  sha256Hex,
  type CheckpointStore,
  type StoredPart,
} from "./store.js";

/** Whether `path` names something strictly inside `root` (both absolute, normalised). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

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

  async get(part: Pick<StoredPart, "uri" | "size">): Promise<Uint8Array> {
    const { uri, size } = part;
    const refuse = (why: string): never => {
      throw new CheckpointPartRefusedError(uri, why);
    };
    if (!isAbsolute(uri) || !inside(this.location, resolve(uri)))
      refuse(`not inside the store ${this.location}`);
    let real: string;
    try {
      // The root too: it may itself be a link (a mounted volume), which is fine.
      const root = await realpath(this.location);
      real = await realpath(uri);
      if (!inside(root, real)) refuse(`it resolves to ${real}, outside the store ${root}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CheckpointPartMissingError(uri);
      throw err;
    }
    // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: no link swapped in since.
    const fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") throw new CheckpointPartMissingError(uri);
        if (err.code === "ELOOP") refuse("it became a symbolic link");
        throw err;
      },
    );
    try {
      const st = await fh.stat();
      if (!st.isFile()) refuse("not a regular file");
      if (st.size !== size) refuse(`it has ${st.size} bytes, the manifest records ${size}`);
      const out = new Uint8Array(size);
      for (let off = 0; off < size;) {
        const { bytesRead } = await fh.read(out, off, size - off, off);
        if (bytesRead === 0) refuse(`it shrank to ${off} bytes while being read`);
        off += bytesRead;
      }
      return out;
    } finally {
      await fh.close();
    }
  }

  async remove(key: string): Promise<void> {
    await rm(join(this.location, key), { recursive: true, force: true });
  }

  async close(): Promise<void> {}
}

// A Hugging Face checkpoint directory's tensors behind one lookup: either a single
// `model.safetensors` or shards listed by `model.safetensors.index.json` (`weight_map`: tensor name →
// shard file). Shards are opened once, headers only; tensor bytes are read one tensor at a time.
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { SafetensorsError, SafetensorsFile, type TensorInfo } from "./safetensors.js";
import { pathExists } from "../../common/fs.js";

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

/** Reads and checks `model.safetensors.index.json`; returns name → shard file name. */
export async function readIndex(path: string): Promise<Map<string, string>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: not readable JSON (${(err as Error).message})`);
  }
  const wm = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (wm === null || typeof wm !== "object" || Array.isArray(wm))
    throw new Error(`${path}: expected a "weight_map" object mapping tensor names to shard files`);
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== "string" || file !== basename(file) || !file.endsWith(".safetensors"))
      throw new Error(
        `${path}: weight_map[${JSON.stringify(name)}]: expected a .safetensors file name in the same directory, got ${JSON.stringify(file)}`,
      );
    out.set(name, file);
  }
  return out;
}

export class ShardedCheckpoint {
  private constructor(
    readonly dir: string,
    /** Shard file names in sorted order. */
    readonly shards: string[],
    private readonly files: Map<string, SafetensorsFile>,
    private readonly where: Map<string, string>,
  ) {}

  static async open(dir: string): Promise<ShardedCheckpoint> {
    const indexPath = join(dir, INDEX_FILE);
    let where: Map<string, string>;
    if (await pathExists(indexPath)) where = await readIndex(indexPath);
    else if (await pathExists(join(dir, SINGLE_FILE))) where = new Map();
    else
      throw new Error(
        `${dir}: neither ${SINGLE_FILE} nor ${INDEX_FILE}; expected a Hugging Face model directory`,
      );
    const shards = where.size ? [...new Set(where.values())].sort() : [SINGLE_FILE];
    const files = new Map<string, SafetensorsFile>();
    try {
      for (const s of shards) files.set(s, await SafetensorsFile.open(join(dir, s)));
    } catch (err) {
      for (const f of files.values()) await f.close();
      throw err;
    }
    if (!where.size) {
      for (const k of files.get(SINGLE_FILE)!.keys()) where.set(k, SINGLE_FILE);
    } else {
      // The index and the shards' headers must agree, or a tensor would silently go missing.
      for (const [name, shard] of where) {
        if (!files.get(shard)!.keys().includes(name)) {
          for (const f of files.values()) await f.close();
          throw new SafetensorsError(
            join(dir, shard),
            `the index lists ${name} in this shard, its header does not`,
          );
        }
      }
    }
    return new ShardedCheckpoint(dir, shards, files, where);
  }

  keys(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  /** The shard file (name within the directory) that holds `name`. */
  shardOf(name: string): string {
    const s = this.where.get(name);
    if (!s) throw new Error(`${this.dir}: no tensor named ${JSON.stringify(name)}`);
    return s;
  }

  /** The open shard file by name (e.g. to list one shard's tensors in order). */
  shard(file: string): SafetensorsFile {
    const f = this.files.get(file);
    if (!f) throw new Error(`${this.dir}: no shard ${file}`);
    return f;
  }

  info(name: string): TensorInfo {
    return this.files.get(this.shardOf(name))!.info(name);
  }

  readRaw(name: string): Promise<Uint8Array> {
    return this.files.get(this.shardOf(name))!.readRaw(name);
  }

  readFloat32(name: string): Promise<Float32Array> {
    return this.files.get(this.shardOf(name))!.readFloat32(name);
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) await f.close();
  }
}

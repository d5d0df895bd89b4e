// Checkpoint stores: where checkpoint parts live. A part is written durably (the bytes are on
// disk or acknowledged by the object store) before its report reaches the coordinator, so a
// committed manifest never points at bytes that may not exist.
import { createHash } from "node:crypto";

export interface StoredPart {
  /** Part name within the checkpoint, e.g. "adapter_model.safetensors". */
  name: string;
  /** Where it lives: a file path or nats-obj://bucket/object. */
  uri: string;
  size: number;
  sha256: string;
}

export interface CheckpointStore {
  /** A human-readable location, e.g. the root directory or nats-obj://bucket. */
  readonly location: string;
  /** Writes the part of checkpoint `key` durably and returns its record. */
  put(key: string, name: string, data: Uint8Array): Promise<StoredPart>;
  /**
   * Reads a part back (its record as put returned it, from a committed manifest). The manifest is
   * input: a uri outside this store, or a part whose stored size is not `size`, is refused
   * (CheckpointPartRefusedError) before a byte is read, and no more than `size` bytes are read.
   */
  get(part: Pick<StoredPart, "uri" | "size">): Promise<Uint8Array>;
  /** Removes every part of checkpoint `key` (retention). Missing keys are not an error. */
  remove(key: string): Promise<void>;
  close(): Promise<void>;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A checkpoint key that sorts by step. */
export function checkpointKey(step: number): string {
  return `step-${String(step).padStart(9, "0")}`;
}

export class CheckpointCorruptError extends Error {
  constructor(
    readonly step: number,
    readonly part: string,
    detail: string,
  ) {
    super(`checkpoint at step ${step}: part ${part} ${detail}`);
    this.name = "CheckpointCorruptError";
  }
}

/**
 * A part the store does not hold (deleted, never written). Unlike a failed read, this will not go
 * away by trying again, so a restore falls back to an older checkpoint.
 */
export class CheckpointPartMissingError extends Error {
  constructor(readonly uri: string) {
    super(`checkpoint part ${uri}: not in the store`);
    this.name = "CheckpointPartMissingError";
  }
}

/**
 * A part the store will not read as the manifest describes it: outside the store's location, not
 * a regular file, or of another size than recorded. Like a missing part it will not go away by
 * trying again, so a restore falls back to an older checkpoint.
 */
export class CheckpointPartRefusedError extends Error {
  constructor(
    readonly uri: string,
    readonly why: string,
  ) {
    super(`checkpoint part ${uri}: refused, ${why}`);
    this.name = "CheckpointPartRefusedError";
  }
}

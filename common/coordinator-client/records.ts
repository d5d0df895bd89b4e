// What the coordinator tells a worker, as plain records: checkpoints, generations and their end.
import type { CommittedCheckpoint__Output } from "../proto/index.js";

export interface CheckpointPartRecord {
  name: string;
  /** File path or nats-obj://bucket/object. */
  uri: string;
  size: number;
  /** Lower-case hex SHA-256. */
  sha256: string;
}

export interface CommittedCheckpoint {
  step: number;
  generation: number;
  parts: CheckpointPartRecord[];
  committedAtUnixMs: number;
}

export interface GenerationEnd {
  generation: number;
  /** worker_lost, heartbeat_missed, worker_rejoined, worker_left, worker_waiting, coordinator_shutdown, coordinator_lost, stale_generation */
  reason: string;
  /** The worker whose loss or arrival ended it ("" if none). */
  workerId: string;
}

export interface Generation {
  generation: number;
  rank: number;
  worldSize: number;
  /** Collective addresses of all members, in rank order. */
  peers: string[];
  /** The newest committed checkpoint, or null to start from scratch. */
  resumeFrom: CommittedCheckpoint | null;
  /** Aborted the moment this generation ends; the reason is a GenerationEndedError. */
  signal: AbortSignal;
}

/** A committed checkpoint as decoded from the proto, or null when the message had none. */
export function toCheckpoint(c: CommittedCheckpoint__Output | null): CommittedCheckpoint | null {
  if (!c) return null;
  return {
    step: c.step,
    generation: c.generation,
    parts: c.parts.map((p) => ({ name: p.name, uri: p.uri, size: p.size, sha256: p.sha256 })),
    committedAtUnixMs: c.committedAtUnixMs,
  };
}

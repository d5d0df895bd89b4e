// Checkpoints: what a training checkpoint holds (adapter, optimizer state, RNG and data cursor) in
// its parts, and the stores that keep the parts durable (a directory or PVC; a NATS JetStream object
// store). The coordinator commits a checkpoint's manifest only after every part is stored.
export {
  encodeCheckpoint,
  decodeCheckpoint,
  PART_NAMES,
  type AdapterTensor,
  type CheckpointContents,
  type DecodedCheckpoint,
  type TrainerState,
} from "./checkpoint.js";
export {
  checkpointKey,
  sha256Hex,
  CheckpointCorruptError,
  CheckpointPartMissingError,
  CheckpointPartRefusedError,
  type CheckpointStore,
  type StoredPart,
} from "./store.js";
export { DirectoryStore } from "./directory-store.js";
export { NatsObjectStore, type NatsStoreOptions } from "./nats-store.js";

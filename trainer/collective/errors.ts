// The one error type every collective operation fails with. Callers (the training loop) branch on
// `code`: PEER_LOST and TIMEOUT end the generation and trigger a re-rendezvous, ABORTED means the
// coordinator already ended it, PROTOCOL means a bug or a mismatched peer (different op order,
// different sizes, a stale generation) and is not worth retrying with the same inputs.

export type CollectiveErrorCode = "PEER_LOST" | "TIMEOUT" | "ABORTED" | "PROTOCOL";

export class CollectiveError extends Error {
  override readonly name = "CollectiveError";
  readonly code: CollectiveErrorCode;
  /** The peer rank the failure was observed on, when there is one. */
  readonly rank?: number;

  constructor(code: CollectiveErrorCode, message: string, rank?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    if (rank !== undefined) this.rank = rank;
  }
}

export function isCollectiveError(err: unknown): err is CollectiveError {
  return err instanceof CollectiveError;
}

// Why the coordinator refused a call, in its own terms. The core throws these; only the gRPC
// service (server.ts, through grpc-errors.ts) turns them into status codes, so the coordinator's
// rules can be used and tested without a transport.

/**
 * What kind of refusal, named after what the caller should do about it:
 * - invalid-argument: the request is malformed (fix the caller);
 * - unauthenticated / permission-denied: no valid credentials / not allowed in this run;
 * - not-found: the run is not served here;
 * - failed-precondition: the call does not fit the run's state (e.g. a stale generation): rejoin;
 * - aborted: the operation was overtaken (generation ended, superseded): retry or rejoin;
 * - cancelled: the caller went away or left;
 * - deadline-exceeded: a wait ran out (join timeout, heartbeats missed);
 * - unavailable: the coordinator is shutting down: retry elsewhere or later.
 */
export type CoordinatorErrorCode =
  | "invalid-argument"
  | "unauthenticated"
  | "permission-denied"
  | "not-found"
  | "failed-precondition"
  | "aborted"
  | "cancelled"
  | "deadline-exceeded"
  | "unavailable";

export class CoordinatorError extends Error {
  constructor(
    readonly code: CoordinatorErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CoordinatorError";
  }
}

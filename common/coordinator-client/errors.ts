// The client's errors: a refused call (with its gRPC status) and the end of a generation.
import * as grpc from "@grpc/grpc-js";
import type { GenerationEnd } from "./records.js";

/** A call failed with a gRPC status; `code` is that status. */
export class CoordinatorCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    details: string,
  ) {
    super(`coordinator ${method} failed (${grpc.status[code] ?? code}): ${details}`);
    this.name = "CoordinatorCallError";
  }
}

/** The reason of a generation's AbortSignal. */
export class GenerationEndedError extends Error {
  constructor(readonly end: GenerationEnd) {
    super(
      `generation ${end.generation} ended: ${end.reason}${end.workerId ? ` (${end.workerId})` : ""}; rejoin to continue`,
    );
    this.name = "GenerationEndedError";
  }
}

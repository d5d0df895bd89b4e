// The gRPC edge of the coordinator's errors: each domain refusal has one status code, the one
// clients (common/coordinator-client) act on — e.g. UNAVAILABLE and ABORTED make a join retry,
// DEADLINE_EXCEEDED on a session means this worker's heartbeats were missed.
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { CoordinatorError, type CoordinatorErrorCode } from "./errors.js";

export const GRPC_STATUS: Readonly<Record<CoordinatorErrorCode, GrpcStatus>> = {
  "invalid-argument": GrpcStatus.INVALID_ARGUMENT,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  "permission-denied": GrpcStatus.PERMISSION_DENIED,
  "not-found": GrpcStatus.NOT_FOUND,
  "failed-precondition": GrpcStatus.FAILED_PRECONDITION,
  aborted: GrpcStatus.ABORTED,
  cancelled: GrpcStatus.CANCELLED,
  "deadline-exceeded": GrpcStatus.DEADLINE_EXCEEDED,
  unavailable: GrpcStatus.UNAVAILABLE,
};

/** The status a call ends with: a refusal's own code, INTERNAL for anything unexpected. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: GrpcStatus } {
  if (err instanceof CoordinatorError) {
    return { code: GRPC_STATUS[err.code], details: err.message, message: err.message };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcStatus.INTERNAL, details: `coordinator internal error: ${message}`, message };
}

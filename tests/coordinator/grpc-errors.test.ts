// The coordinator's refusals reach clients as gRPC status codes, and clients act on those codes
// (a join retries on UNAVAILABLE and ABORTED; DEADLINE_EXCEEDED on a session means missed
// heartbeats), so each domain code must keep its status.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { CoordinatorError } from "../../controller/coordinator/errors.js";
import { GRPC_STATUS, toServiceError } from "../../controller/coordinator/grpc-errors.js";

describe("domain error -> gRPC status", () => {
  it("maps every refusal to the status clients were always answered with", () => {
    expect(GRPC_STATUS).toEqual({
      "invalid-argument": status.INVALID_ARGUMENT,
      unauthenticated: status.UNAUTHENTICATED,
      "permission-denied": status.PERMISSION_DENIED,
      "not-found": status.NOT_FOUND,
      "failed-precondition": status.FAILED_PRECONDITION,
      aborted: status.ABORTED,
      cancelled: status.CANCELLED,
      "deadline-exceeded": status.DEADLINE_EXCEEDED,
      unavailable: status.UNAVAILABLE,
    });
  });

  it("keeps the refusal's message as the status details", () => {
    const e = toServiceError(new CoordinatorError("failed-precondition", "generation 3 is not running"));
    expect(e).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "generation 3 is not running",
      message: "generation 3 is not running",
    });
  });

  it("answers anything that is not a refusal with INTERNAL, naming it as an internal error", () => {
    const e = toServiceError(new TypeError("x is undefined"));
    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).toBe("coordinator internal error: x is undefined");
    expect(toServiceError("boom").details).toBe("coordinator internal error: boom");
  });
});

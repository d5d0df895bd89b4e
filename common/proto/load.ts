// Loads the radfleet protos at run time with @grpc/proto-loader. The loader options are fixed here
// and mirrored by the flags in generate.sh, so the generated types describe exactly what the loader
// produces:
//   keepCase: false  - fields are camelCase in TypeScript (worker_id -> workerId)
//   longs: Number    - int64/uint64 decode to JS numbers. Every 64-bit field in these protos holds a
//                      step, a generation, a byte size or a Unix millisecond time, all far below 2^53,
//                      so numbers are exact and spare every caller a string/Long conversion.
//   enums: String    - enum values decode to their names
//   defaults: true   - absent scalars decode to their zero value; absent messages to null
//   oneofs: true     - a oneof decodes with a virtual field naming the member that is set
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as CoordinatorProto } from "./generated/coordinator.js";

export const PROTO_ROOT = fileURLToPath(new URL("../../protos", import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let coordinatorProto: CoordinatorProto | undefined;

/** The typed package object of radfleet/v1/coordinator.proto (loaded once per process). */
export function loadCoordinatorProto(): CoordinatorProto {
  if (!coordinatorProto) {
    const def = protoLoader.loadSync("radfleet/v1/coordinator.proto", LOADER_OPTIONS);
    coordinatorProto = grpc.loadPackageDefinition(def) as unknown as CoordinatorProto;
  }
  return coordinatorProto;
}

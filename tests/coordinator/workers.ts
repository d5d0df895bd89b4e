// Test helpers: in-process simulated workers and a raw gRPC client for protocol-level checks.
import * as grpc from "@grpc/grpc-js";
import { CoordinatorClient, type Generation } from "../../common/coordinator-client/index.js";
import { loadCoordinatorProto, type CoordinatorGrpcClient } from "../../common/proto/index.js";

export const TOKEN = "test-token-0123456789";

export async function connectWorkers(
  address: string,
  runId: string,
  ids: string[],
): Promise<CoordinatorClient[]> {
  return Promise.all(
    ids.map((workerId, i) =>
      CoordinatorClient.connect({
        address,
        runId,
        token: TOKEN,
        workerId,
        collectiveAddress: `10.0.0.${i}:${7000 + i}`,
        connectTimeoutMs: 10_000,
        reconnectForMs: 20_000,
      }),
    ),
  );
}

export function ids(n: number, prefix = "w"): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

export async function joinAll(clients: CoordinatorClient[], timeoutMs = 20_000): Promise<Generation[]> {
  return Promise.all(clients.map((c) => c.join({ timeoutMs })));
}

export async function closeAll(clients: CoordinatorClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

/** Resolves with the abort reason when the generation's signal fires. */
export function ended(g: Generation): Promise<unknown> {
  return new Promise((resolve) => {
    if (g.signal.aborted) resolve(g.signal.reason);
    else g.signal.addEventListener("abort", () => resolve(g.signal.reason), { once: true });
  });
}

/** A bare generated client, for sending requests the CoordinatorClient would never send. */
export function rawClient(address: string): CoordinatorGrpcClient {
  const proto = loadCoordinatorProto();
  return new proto.radfleet.v1.Coordinator(address, grpc.credentials.createInsecure());
}

export function md(runId: string, token: string | null): grpc.Metadata {
  const m = new grpc.Metadata();
  if (runId) m.set("x-radfleet-run", runId);
  if (token !== null) m.set("authorization", `Bearer ${token}`);
  return m;
}

/** The gRPC status code a raw unary call ends with (OK = 0). */
export function statusOf(
  invoke: (cb: (err: grpc.ServiceError | null) => void) => void,
): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    invoke((err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: "" }),
    );
  });
}

// TLS when certificates are configured (a self-signed certificate made with openssl), and the
// join timeout.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { CoordinatorCallError, CoordinatorClient } from "../../common/coordinator-client/index.js";
import { connectWorkers, TOKEN } from "./workers.js";

let dir: string;
let cert: Buffer;
let key: Buffer;
let otherCert: Buffer;

function selfSigned(name: string): { cert: Buffer; key: Buffer } {
  const k = path.join(dir, `${name}.key`);
  const c = path.join(dir, `${name}.crt`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      k,
      "-out",
      c,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return { cert: readFileSync(c), key: readFileSync(k) };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "radfleet-tls-"));
  ({ cert, key } = selfSigned("server"));
  otherCert = selfSigned("other").cert;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TLS", () => {
  it("serves a worker that trusts the coordinator's certificate and refuses one that does not", async () => {
    const coord = await startCoordinator({
      runId: "tls",
      token: TOKEN,
      minWorkers: 1,
      lastCallMs: 50,
      address: "127.0.0.1:0",
      tls: { cert, key },
      logger: silentLogger,
    });
    const base = { address: coord.address, runId: "tls", token: TOKEN, collectiveAddress: "127.0.0.1:1" };
    try {
      const c = await CoordinatorClient.connect({ ...base, workerId: "w0", tls: { ca: cert } });
      const g = await c.join({ timeoutMs: 10_000 });
      expect(g.worldSize).toBe(1);
      await c.close();
      const refused = await CoordinatorClient.connect({
        ...base,
        workerId: "w1",
        tls: { ca: otherCert },
        connectTimeoutMs: 1_500,
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Error);
    } finally {
      await coord.close();
    }
  });
});

describe("join timeout", () => {
  it("fails a join that no generation took in time with DEADLINE_EXCEEDED and says why", async () => {
    const coord = await startCoordinator({
      runId: "jointimeout",
      token: TOKEN,
      minWorkers: 2,
      joinTimeoutMs: 300,
      address: "127.0.0.1:0",
      logger: silentLogger,
    });
    const [c] = await connectWorkers(coord.address, "jointimeout", ["w0"]);
    try {
      const err = await c.join({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CoordinatorCallError);
      expect((err as CoordinatorCallError).code).toBe(status.DEADLINE_EXCEEDED);
      expect((err as Error).message).toMatch(/join timeout of 300 ms.*min 2/);
    } finally {
      await c.close();
      await coord.close();
    }
  });
});

// The coordinator's gRPC server: authenticates every call (run id + token in metadata), then hands
// the typed request to that run's RunCoordinator. One server can host several runs.
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from "../../common/coordinator-client/index.js";
import { timingSafeEqual } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import {
  fromReportProgressRequest,
  loadCoordinatorProto,
  type CoordinatorHandlers,
} from "../../common/proto/index.js";
import { createLogger, type Logger } from "../../common/log.js";
import { newRegistry, type Registry } from "../../common/metrics.js";
import { coordinatorMetrics, type CoordinatorMetrics } from "./metrics.js";
import { NatsBridge } from "./nats-bridge.js";
import { RunStateFile } from "./state-file.js";
import { resolveOptions, type CoordinatorOptions } from "./options.js";
import { mergeRunStates, parsePersistedState } from "./persisted-state.js";
import { CoordinatorError } from "./errors.js";
import { toServiceError } from "./grpc-errors.js";
import type { Placement } from "./rendezvous.js";
import { RunCoordinator } from "./run-coordinator.js";
import type { SessionEventOut } from "./sessions.js";

export const RUN_METADATA_KEY = "x-radfleet-run";
export const AUTH_METADATA_KEY = "authorization";

export interface ServerTls {
  /** PEM server certificate chain and key. */
  cert: Buffer;
  key: Buffer;
  /** PEM CA for client certificates; with it, clients must present a certificate it signed. */
  clientCa?: Buffer;
}

export interface CoordinatorServerOptions {
  /** host:port to listen on; port 0 picks a free one. Default 0.0.0.0:0. */
  address?: string;
  tls?: ServerTls;
  registry?: Registry;
  logger?: Logger;
}

export interface CoordinatorServer {
  /** The bound port. */
  readonly port: number;
  /** host:port clients can dial on this machine. */
  readonly address: string;
  readonly registry: Registry;
  /** Starts coordinating a run; resumes from NATS KV state when options.natsUrl has some. */
  addRun(options: CoordinatorOptions): Promise<RunCoordinator>;
  getRun(runId: string): RunCoordinator | undefined;
  removeRun(runId: string): Promise<void>;
  /** Stops every run and the server (in-flight calls are cancelled). */
  close(): Promise<void>;
}

interface HostedRun {
  coordinator: RunCoordinator;
  token: Buffer;
  nats: NatsBridge | null;
  file: RunStateFile | null;
}

type AnyCall = { metadata: grpc.Metadata };

export async function startCoordinatorServer(
  opts: CoordinatorServerOptions = {},
): Promise<CoordinatorServer> {
  const registry = opts.registry ?? newRegistry();
  const metrics: CoordinatorMetrics = coordinatorMetrics(registry);
  const log = opts.logger ?? createLogger({ context: { component: "coordinator" } });
  const runs = new Map<string, HostedRun>();

  function authorize(call: AnyCall): RunCoordinator {
    const auth = call.metadata.get(AUTH_METADATA_KEY)[0];
    if (typeof auth !== "string" || !auth.startsWith("Bearer ")) {
      throw new CoordinatorError(
        "unauthenticated",
        "missing run token: send metadata 'authorization: Bearer <token>'",
      );
    }
    const runId = call.metadata.get(RUN_METADATA_KEY)[0];
    if (typeof runId !== "string" || runId === "") {
      throw new CoordinatorError(
        "not-found",
        `missing run id: send metadata '${RUN_METADATA_KEY}: <run id>'`,
      );
    }
    const run = runs.get(runId);
    if (!run)
      throw new CoordinatorError(
        "not-found",
        `run ${JSON.stringify(runId)} is not served by this coordinator`,
      );
    const given = Buffer.from(auth.slice("Bearer ".length));
    if (given.length !== run.token.length || !timingSafeEqual(given, run.token)) {
      throw new CoordinatorError("unauthenticated", `wrong token for run ${runId}`);
    }
    return run.coordinator;
  }

  /** A unary handler whose body may throw a CoordinatorError or return a promise. */
  function unary<Req, Res>(
    body: (run: RunCoordinator, req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let result: Res | Promise<Res>;
      try {
        result = body(authorize(call), call.request, call);
      } catch (err) {
        callback(toServiceError(err));
        return;
      }
      Promise.resolve(result).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err)),
      );
    };
  }

  const handlers: CoordinatorHandlers = {
    Session(call) {
      let run: RunCoordinator;
      try {
        run = authorize(call);
      } catch (err) {
        call.emit("error", toServiceError(err));
        return;
      }
      let workerId = "";
      let sessionId = 0;
      let ended = false;
      const sink = {
        send(ev: SessionEventOut) {
          if (!ended) call.write(ev);
        },
        close(why: CoordinatorError) {
          if (ended) return;
          ended = true;
          call.emit("error", toServiceError(why));
        },
      };
      const gone = (why: string) => {
        ended = true;
        if (sessionId) run.sessionClosed(workerId, sessionId, why);
      };
      call.on(
        "data",
        (msg: {
          kind?: string;
          hello?: { workerId: string } | null;
          heartbeat?: { generation: number } | null;
        }) => {
          try {
            if (msg.kind === "hello" && msg.hello && !sessionId) {
              workerId = msg.hello.workerId;
              sessionId = run.openSession(workerId, sink);
            } else if (msg.kind === "heartbeat" && msg.heartbeat && sessionId) {
              run.heartbeat(workerId, sessionId, msg.heartbeat.generation);
            } else if (!sessionId) {
              throw new CoordinatorError(
                "failed-precondition",
                "the first message on a session must be Hello",
              );
            }
          } catch (err) {
            ended = true;
            call.emit("error", toServiceError(err));
          }
        },
      );
      call.on("end", () => {
        gone("client closed the stream");
        call.end();
      });
      call.on("cancelled", () => gone("stream cancelled"));
      call.on("error", () => gone("stream error"));
      call.on("close", () => gone("stream closed"));
    },
    Join(call, callback) {
      let run: RunCoordinator;
      try {
        run = authorize(call);
      } catch (err) {
        callback(toServiceError(err));
        return;
      }
      const { workerId, collectiveAddress } = call.request;
      let done = false;
      call.on("cancelled", () => {
        if (!done) run.joinCancelled(workerId);
      });
      let p: Promise<Placement>;
      try {
        p = run.join(workerId, collectiveAddress);
      } catch (err) {
        callback(toServiceError(err));
        return;
      }
      p.then(
        (placement) => {
          done = true;
          callback(null, placement);
        },
        (err: unknown) => {
          done = true;
          callback(toServiceError(err));
        },
      );
    },
    Barrier(call, callback) {
      const { workerId, generation, name } = call.request;
      call.on("cancelled", () =>
        runs
          .get(String(call.metadata.get(RUN_METADATA_KEY)[0]))
          ?.coordinator.barrierCancelled(workerId, generation, name),
      );
      unary<typeof call.request, object>((run, req) =>
        run.barrier(req.workerId, req.generation, req.name).then(() => ({})),
      )(call, callback);
    },
    ReportCheckpointPart: unary((run, req) => {
      run.reportPart(req.workerId, req.generation, req.step, req.part);
      return {};
    }),
    CommitCheckpoint: unary((run, req) =>
      run
        .commit(req.workerId, req.generation, req.step, req.expectedParts)
        .then((checkpoint) => ({ checkpoint })),
    ),
    GetLatestCheckpoint: unary((run) => ({ checkpoint: run.latestCheckpoint() })),
    ListCheckpoints: unary((run) => ({ checkpoints: run.listCheckpoints() })),
    ReportProgress: unary((run, req) => {
      run.reportProgress(fromReportProgressRequest(req));
      return {};
    }),
    Leave: unary((run, req) => {
      run.leave(req.workerId, req.reason, req.message);
      return {};
    }),
  };

  const proto = loadCoordinatorProto();
  const server = new grpc.Server({
    // Workers keep a session stream open for the whole run. Liveness is the heartbeats' business
    // (their timeout is a spec setting); keepalive only clears half-open connections, so its
    // timeout must outlast a trainer's longest blocking step: a tf.js step runs synchronously and
    // cannot answer a ping. A 5 s timeout cut a healthy worker loose on a loaded machine.
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  });
  server.addService(withSharedJoinEncoding(proto.radfleet.v1.Coordinator.service), handlers);
  const creds = opts.tls
    ? grpc.ServerCredentials.createSsl(
        opts.tls.clientCa ?? null,
        [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }],
        opts.tls.clientCa !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();
  const bindAddress = opts.address ?? "0.0.0.0:0";
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress, creds, (err, p) =>
      err ? reject(new Error(`coordinator: cannot listen on ${bindAddress}: ${err.message}`)) : resolve(p),
    );
  });
  const host = bindAddress.slice(0, bindAddress.lastIndexOf(":"));
  const dialHost = host === "0.0.0.0" || host === "[::]" || host === "" ? "127.0.0.1" : host;
  log.info("coordinator_listening", { port, tls: opts.tls !== undefined });

  const self: CoordinatorServer = {
    port,
    address: `${dialHost}:${port}`,
    registry,
    async addRun(options) {
      const resolved = resolveOptions(options);
      if (runs.has(resolved.runId)) throw new Error(`coordinator: run ${resolved.runId} is already served`);
      const runLog = log.child({ runId: resolved.runId });
      const nats = resolved.natsUrl
        ? await NatsBridge.open({
            url: resolved.natsUrl,
            runId: resolved.runId,
            bucket: resolved.natsBucket,
            log: runLog,
            onDropped: () => metrics.eventsDropped.inc({ run: resolved.runId }),
          })
        : null;
      const file = resolved.stateFile ? new RunStateFile(resolved.stateFile, runLog) : null;
      const restored = mergeRunStates(
        nats ? parsePersistedState(await nats.loadState().catch(() => null), resolved.runId) : null,
        file ? await file.load(resolved.runId) : null,
        resolved.keepCheckpoints,
      );
      const coordinator = new RunCoordinator(resolved, nats, metrics, runLog, restored, file);
      if (nats)
        nats.onLateConnect = (saved) => coordinator.mergeRestored(parsePersistedState(saved, resolved.runId));
      runs.set(resolved.runId, { coordinator, token: Buffer.from(resolved.token), nats, file });
      return coordinator;
    },
    getRun: (runId) => runs.get(runId)?.coordinator,
    async removeRun(runId) {
      const r = runs.get(runId);
      if (!r) return;
      runs.delete(runId);
      r.coordinator.close();
      await r.nats?.close();
      await r.file?.flush();
    },
    async close() {
      for (const id of [...runs.keys()]) await self.removeRun(id);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
  return self;
}

/**
 * Every member of a generation gets the same Join answer except for its rank, and the peer list
 * makes it O(world size): encoding it once per worker made closing a 512-worker round O(N^2) in
 * CPU time. This encodes the shared fields once per generation (keyed by the shared peers array)
 * and appends the rank: protobuf allows fields in any order, and proto3 omits a zero rank, so the
 * concatenation decodes exactly as the whole message would.
 */
function withSharedJoinEncoding<S extends grpc.ServiceDefinition>(service: S): S {
  const join = service.Join as grpc.MethodDefinition<unknown, { peers: string[]; rank: number }>;
  const shared = new WeakMap<string[], Buffer>();
  const encodeRank = (rank: number): Buffer => {
    if (rank === 0) return Buffer.alloc(0);
    const bytes = [0x10]; // field 2 (rank), wire type 0 (varint)
    for (let v = rank; ; v >>>= 7) {
      if (v < 0x80) {
        bytes.push(v);
        break;
      }
      bytes.push((v & 0x7f) | 0x80);
    }
    return Buffer.from(bytes);
  };
  const responseSerialize = (res: { peers: string[]; rank: number }): Buffer => {
    let head = shared.get(res.peers);
    if (!head) {
      head = join.responseSerialize({ ...res, rank: 0 });
      shared.set(res.peers, head);
    }
    return Buffer.concat([head, encodeRank(res.rank)]);
  };
  return { ...service, Join: { ...join, responseSerialize } };
}

/** One server serving one run: what `radfleet run` and the tests use. */
export async function startCoordinator(
  options: CoordinatorOptions & CoordinatorServerOptions,
): Promise<{ server: CoordinatorServer; run: RunCoordinator; address: string; close(): Promise<void> }> {
  const server = await startCoordinatorServer(options);
  try {
    const run = await server.addRun(options);
    return { server, run, address: server.address, close: () => server.close() };
  } catch (err) {
    await server.close();
    throw err;
  }
}

// Access control, stale-generation refusals and the two-phase checkpoint commit, on real gRPC.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { CoordinatorCallError, type CoordinatorClient } from "../../common/coordinator-client/index.js";
import { closeAll, connectWorkers, ended, ids, joinAll, md, rawClient, statusOf, TOKEN } from "./workers.js";

type Started = Awaited<ReturnType<typeof startCoordinator>>;
let coord: Started;
const RUN = "access";
const sha = (c: string) => c.repeat(64);

beforeAll(async () => {
  coord = await startCoordinator({
    runId: RUN,
    token: TOKEN,
    minWorkers: 2,
    maxWorkers: 2,
    lastCallMs: 100,
    allowedWorkerIds: ["w0", "w1", "w2"],
    address: "127.0.0.1:0",
    logger: silentLogger,
  });
});
afterAll(async () => {
  await coord.close();
});

describe("access", () => {
  it("refuses a missing or wrong token, an unknown run and a worker outside the run", async () => {
    const raw = rawClient(coord.address);
    const call = (m: ReturnType<typeof md>) => statusOf((cb) => raw.GetLatestCheckpoint({}, m, cb));
    expect((await call(md(RUN, null))).code).toBe(status.UNAUTHENTICATED);
    expect((await call(md(RUN, "wrong-token"))).code).toBe(status.UNAUTHENTICATED);
    expect((await call(md("no-such-run", TOKEN))).code).toBe(status.NOT_FOUND);
    expect((await call(md(RUN, TOKEN))).code).toBe(status.OK);
    const outsider = await statusOf((cb) =>
      raw.Leave({ workerId: "intruder", reason: "done" }, md(RUN, TOKEN), cb),
    );
    expect(outsider.code).toBe(status.PERMISSION_DENIED);
    expect(outsider.details).toMatch(/intruder/);
    raw.close();
  });

  it("refuses a session with a wrong token at connect", async () => {
    const { CoordinatorClient } = await import("../../common/coordinator-client/index.js");
    const err = await CoordinatorClient.connect({
      address: coord.address,
      runId: RUN,
      token: "nope",
      workerId: "w0",
      collectiveAddress: "127.0.0.1:1",
      connectTimeoutMs: 5_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoordinatorCallError);
    expect((err as CoordinatorCallError).code).toBe(status.UNAUTHENTICATED);
  });
});

describe("checkpoints and stale generations", () => {
  let clients: CoordinatorClient[] = [];
  afterAll(async () => closeAll(clients));

  it("commits only when every declared part is reported, never an incomplete one", async () => {
    clients = await connectWorkers(coord.address, RUN, ids(2));
    const gens = await joinAll(clients);
    const byRank = [...clients].sort((a, b) => gens[clients.indexOf(a)].rank - gens[clients.indexOf(b)].rank);
    const [r0, r1] = byRank;

    // Step 10: rank 0 writes the shared adapter and its optimizer shard; rank 1 its shard.
    await r0.reportCheckpointPart(10, {
      name: "adapter.safetensors",
      uri: "/ck/10/a",
      size: 5,
      sha256: sha("a"),
    });
    await r0.reportCheckpointPart(10, {
      name: "optim-rank0.bin",
      uri: "/ck/10/o0",
      size: 7,
      sha256: sha("b"),
    });
    const vote0 = r0.commitCheckpoint(10, ["adapter.safetensors", "optim-rank0.bin"]);
    expect(await r0.latestCheckpoint()).toBeNull(); // not committed while rank 1 has not voted
    await r1.reportCheckpointPart(10, {
      name: "optim-rank1.bin",
      uri: "/ck/10/o1",
      size: 9,
      sha256: sha("c"),
    });
    const [c0, c1] = await Promise.all([vote0, r1.commitCheckpoint(10, ["optim-rank1.bin"])]);
    expect(c0).toEqual(c1);
    expect(c0.step).toBe(10);
    expect(c0.parts.map((p) => p.name)).toEqual([
      "adapter.safetensors",
      "optim-rank0.bin",
      "optim-rank1.bin",
    ]);
    expect((await r1.latestCheckpoint())?.step).toBe(10);

    // Step 20: rank 1 declares a part it never reported -> abandoned, never committed.
    await r0.reportCheckpointPart(20, {
      name: "adapter.safetensors",
      uri: "/ck/20/a",
      size: 5,
      sha256: sha("d"),
    });
    await r0.reportCheckpointPart(20, {
      name: "optim-rank0.bin",
      uri: "/ck/20/o0",
      size: 7,
      sha256: sha("e"),
    });
    const v0 = r0.commitCheckpoint(20, ["adapter.safetensors", "optim-rank0.bin"]).catch((e: unknown) => e);
    const v1 = await r1.commitCheckpoint(20, ["optim-rank1.bin"]).catch((e: unknown) => e);
    expect((v1 as CoordinatorCallError).code).toBe(status.FAILED_PRECONDITION);
    expect((v1 as Error).message).toMatch(/optim-rank1\.bin/);
    expect(((await v0) as CoordinatorCallError).code).toBe(status.ABORTED);
    expect((await r0.latestCheckpoint())?.step).toBe(10);
    expect((await r0.listCheckpoints()).map((c) => c.step)).toEqual([10]);
    // A late report for the abandoned step is refused too.
    const late = await r1
      .reportCheckpointPart(20, { name: "optim-rank1.bin", uri: "/ck/20/o1", size: 9, sha256: sha("f") })
      .catch((e: unknown) => e);
    expect((late as CoordinatorCallError).code).toBe(status.ABORTED);

    // A malformed part is refused at the edge.
    const bad = await r0
      .reportCheckpointPart(30, { name: "x", uri: "/x", size: 1, sha256: "not-hex" })
      .catch((e: unknown) => e);
    expect((bad as CoordinatorCallError).code).toBe(status.INVALID_ARGUMENT);
  });

  it("refuses messages of an ended generation with FAILED_PRECONDITION and a clear message", async () => {
    const g = clients[0].generation!;
    const w2 = (await connectWorkers(coord.address, RUN, ["w2"]))[0];
    clients.push(w2);
    // w2 joins a full generation: it waits; a member leaving ends generation g.
    const late = w2.join({ timeoutMs: 20_000 });
    await clients[1].leave("stopped");
    await ended(g);
    const raw = rawClient(coord.address);
    const res = await statusOf((cb) =>
      raw.Barrier({ workerId: "w0", generation: g.generation, name: "x" }, md(RUN, TOKEN), cb),
    );
    expect(res.code).toBe(status.FAILED_PRECONDITION);
    expect(res.details).toMatch(
      new RegExp(`generation ${g.generation} is not the running generation.*rejoin`),
    );
    const next = await Promise.all([clients[0].join(), late]);
    expect(next[0].generation).toBe(g.generation + 1);
    // The committed checkpoint is what the next generation resumes from.
    expect(next[0].resumeFrom?.step).toBe(10);
    // A non-member naming the running generation is refused as well.
    const outsider = await statusOf((cb) =>
      raw.Barrier({ workerId: "w1", generation: next[0].generation, name: "x" }, md(RUN, TOKEN), cb),
    );
    expect(outsider.code).toBe(status.PERMISSION_DENIED);
    raw.close();
  });
});

// `radfleet bench allreduce --coordinator HOST:PORT`: the benchmark across machines (pods). Each
// process is one worker, started on its own machine; the workers meet through a run coordinator's
// rendezvous exactly as trainers do (join, get rank and every peer's data-plane address), connect
// the ring, and measure between themselves (allreduce-measure.ts), the raw TCP baseline included.
//
// The rendezvous carries one address per worker (the collective listener's); the raw baseline's
// addresses travel over the data plane itself, as an all-gather, once the ring is up.

import { CoordinatorClient } from "../common/coordinator-client/index.js";
import { measure, pieceBytesFromEnv, type MeasurePlan, type SizeResult } from "./allreduce-measure.js";
import { Collective, CollectiveListener } from "../trainer/collective/index.js";
import { RawRing } from "../trainer/collective/index.js";

export interface JoinOptions extends MeasurePlan {
  /** Coordinator host:port. */
  coordinator: string;
  runId: string;
  token: string;
  workerId: string;
  /** Host the peers reach this worker at (the pod IP); both listeners bind every interface. */
  advertiseHost: string;
  compression: "none" | "fp16";
  /** Refuse a generation of another size (an operator's check that every pod made it). */
  expectWorkers?: number;
  /** How long to wait for the coordinator to place this worker in a generation. */
  joinTimeoutMs: number;
}

export interface JoinOutcome {
  rank: number;
  worldSize: number;
  generation: number;
  /** Data-plane addresses in rank order, as the rendezvous gave them. */
  peers: string[];
  results: SizeResult[];
}

const portOf = (address: string): string => address.slice(address.lastIndexOf(":") + 1);

export async function runJoined(o: JoinOptions, signal: AbortSignal): Promise<JoinOutcome> {
  const listener = await CollectiveListener.listen("0.0.0.0", 0);
  const raw = await RawRing.listen("0.0.0.0", o.advertiseHost);
  const host = o.advertiseHost.includes(":") ? `[${o.advertiseHost}]` : o.advertiseHost;
  let client: CoordinatorClient | undefined;
  let coll: Collective | undefined;
  let ring: RawRing | undefined;
  let failure: unknown;
  try {
    client = await CoordinatorClient.connect({
      address: o.coordinator,
      runId: o.runId,
      token: o.token,
      workerId: o.workerId,
      collectiveAddress: `${host}:${portOf(listener.address)}`,
      signal,
      connectTimeoutMs: 30_000,
    });
    const g = await client.join({ timeoutMs: o.joinTimeoutMs, signal });
    if (o.expectWorkers !== undefined && g.worldSize !== o.expectWorkers) {
      throw new Error(
        `the coordinator formed generation ${g.generation} with ${g.worldSize} workers, --workers expects ${o.expectWorkers}: start one bench process per worker, or check the coordinator's min/max workers`,
      );
    }
    coll = await Collective.connect({
      rank: g.rank,
      worldSize: g.worldSize,
      generation: g.generation,
      peers: g.peers,
      listener,
      timeoutMs: o.timeoutMs,
      compression: o.compression,
      // A worker lost or joining ends the generation: the benchmark fails instead of hanging.
      signal: AbortSignal.any([g.signal, signal]),
      ...pieceBytesFromEnv(),
    });
    const rawPeers = (await coll.allGather(new TextEncoder().encode(raw.address))).map((b) =>
      new TextDecoder().decode(b),
    );
    const left = (g.rank - 1 + g.worldSize) % g.worldSize;
    if (g.worldSize > 1) ring = await RawRing.connect(rawPeers[left], raw.inbound, o.timeoutMs);
    const results = await measure(coll, ring, o);
    // A leave ends the generation for the others: nobody leaves before everyone has finished.
    await client.barrier("bench-allreduce-done", { timeoutMs: 10 * o.timeoutMs + 60_000 });
    return { rank: g.rank, worldSize: g.worldSize, generation: g.generation, peers: g.peers, results };
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    ring?.close();
    await coll?.close();
    if (client) {
      const message = failure === undefined ? "" : String((failure as Error).message ?? failure);
      await client.leave(failure === undefined ? "done" : "failed", message).catch(() => {});
      await client.close();
    }
    void raw.inbound.then((s) => s.destroy()); // accepted but never used when the run failed early
    raw.server.close();
    await listener.close();
  }
}

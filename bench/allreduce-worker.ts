// One process of `radfleet bench allreduce` on this machine. Started by allreduce.ts with
// an IPC channel: it reports its data-plane and raw-baseline addresses, receives everyone's, then
// measures (allreduce-measure.ts) and answers with the results.

import { measure, pieceBytesFromEnv, type MeasurePlan, type SizeResult } from "./allreduce-measure.js";
import { Collective, CollectiveListener } from "../trainer/collective/index.js";
import { RawRing } from "../trainer/collective/index.js";

export type { SizeResult } from "./allreduce-measure.js";

export interface BenchPlan extends MeasurePlan {
  rank: number;
  worldSize: number;
  peers: string[];
  rawPeers: string[];
  compression: "none" | "fp16";
}

type Msg = { plan: BenchPlan };

const host = process.env.RADFLEET_BENCH_HOST ?? "127.0.0.1";
const listener = await CollectiveListener.listen(host, 0);
const raw = await RawRing.listen(host);
const send = (m: unknown): void => void process.send!(m);

async function run(plan: BenchPlan): Promise<SizeResult[]> {
  const left = (plan.rank - 1 + plan.worldSize) % plan.worldSize;
  const coll = await Collective.connect({
    rank: plan.rank,
    worldSize: plan.worldSize,
    generation: 1,
    peers: plan.peers,
    listener,
    timeoutMs: plan.timeoutMs,
    compression: plan.compression,
    ...pieceBytesFromEnv(),
  });
  const ring =
    plan.worldSize > 1 ? await RawRing.connect(plan.rawPeers[left], raw.inbound, plan.timeoutMs) : undefined;
  try {
    return await measure(coll, ring, plan);
  } finally {
    ring?.close();
    await coll.close();
  }
}

process.on("message", (m: Msg) => {
  run(m.plan).then(
    (results) => process.send!({ results }, () => process.exit(0)),
    (err: unknown) =>
      process.send!({ error: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
});
send({ address: listener.address, rawAddress: raw.address });

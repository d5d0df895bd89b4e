// A trainer-like child process for the collective tests. It owns one CollectiveListener for its
// whole life and executes commands sent by the test over the IPC channel, answering each one.
import { createHash } from "node:crypto";
import { Collective, CollectiveListener, isCollectiveError } from "../../trainer/collective/index.js";
import { inputs } from "./inputs.js";

type Cmd =
  | {
      cmd: "connect";
      rank: number;
      worldSize: number;
      generation: number;
      peers: string[];
      timeoutMs: number;
      compression: "none" | "fp16";
    }
  | { cmd: "exact"; sizes: number[]; op: "sum" | "mean"; salt: number }
  | { cmd: "many"; lengths: number[]; bucketBytes: number }
  | { cmd: "misc" }
  | { cmd: "loop"; elems: number }
  | { cmd: "exit" };

const listener = await CollectiveListener.listen("127.0.0.1", 0);
let coll: Collective | undefined;

const send = (m: unknown): void => void process.send!(m);
const hash = (a: Float32Array): string =>
  createHash("sha256")
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest("hex");
const errInfo = (err: unknown) =>
  isCollectiveError(err)
    ? { code: err.code, rank: err.rank, message: err.message, at: Date.now() }
    : { code: "OTHER", message: String(err), at: Date.now() };

async function handle(m: Cmd): Promise<unknown> {
  switch (m.cmd) {
    case "connect": {
      await coll?.close();
      coll = await Collective.connect({ ...m, listener, bucketBytes: 4096, pieceBytes: 4096 * 4 });
      return { ok: true };
    }
    case "exact": {
      // Every rank returns its result's hash; the test compares hashes and the error bound check.
      const out = [];
      for (const n of m.sizes) {
        const data = inputs(m.salt, coll!.rank, n);
        await coll!.allReduce(data, m.op);
        out.push({
          n,
          hash: hash(data),
          values: n <= 100_000 ? Array.from(data) : Array.from(data.subarray(0, 100_000)),
        });
      }
      return { results: out };
    }
    case "many": {
      const tensors = m.lengths.map((len, i) => inputs(1000 + i, coll!.rank, len));
      await coll!.allReduceMany(tensors, "sum");
      return { results: tensors.map((t) => Array.from(t)) };
    }
    case "misc": {
      const w = coll!.worldSize;
      const r = coll!.rank;
      const b = r === w - 1 ? inputs(7, r, 333_333) : new Float32Array(333_333);
      await coll!.broadcast(b, w - 1);
      const mine = new TextEncoder().encode(`rank ${r} says ${"x".repeat(r * 3)}`);
      const gathered = await coll!.allGather(mine);
      await coll!.barrier();
      const empty = await coll!.allReduce(new Float32Array(0), "sum");
      return {
        bcast: hash(b),
        gathered: gathered.map((g) => new TextDecoder().decode(g)),
        empty: empty.length,
      };
    }
    case "loop": {
      send({ started: true });
      const data = inputs(3, coll!.rank, m.elems);
      try {
        for (;;) await coll!.allReduce(data, "mean");
      } catch (err) {
        return { error: errInfo(err) };
      }
    }
    case "exit":
      await coll?.close();
      await listener.close();
      setImmediate(() => process.exit(0));
      return { ok: true };
  }
}

process.on("message", (m: Cmd) => {
  handle(m).then(
    (r) => send({ reply: m.cmd, ...(r as object) }),
    (err: unknown) => send({ reply: m.cmd, error: errInfo(err) }),
  );
});
send({ address: listener.address, pid: process.pid });

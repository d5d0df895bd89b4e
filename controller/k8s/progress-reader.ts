// Where the controller reads a run's training progress for its status. The run's coordinator
// writes it to NATS KV (bucket spec.nats.kvBucket, key runProgressKey(run), common/run-records.ts)
// from rank 0's reports. A missing or unreadable record is not an error: status then shows pods only.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { runProgressKey } from "../../common/run-records.js";
import type { RunSpec } from "../../common/spec/index.js";
import type { RunProgress } from "./types.js";

export interface ProgressReader {
  read(
    run: { namespace: string; name: string },
    spec: RunSpec,
    signal: AbortSignal,
  ): Promise<RunProgress | undefined>;
  close(): Promise<void>;
}

export const noProgress: ProgressReader = {
  read: () => Promise.resolve(undefined),
  close: () => Promise.resolve(),
};

/** Validates the coordinator's JSON record once, at the edge. */
export function parseProgress(text: string): RunProgress | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  const int = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? Math.trunc(x) : undefined);
  const num = (x: unknown) => (typeof x === "number" ? x : undefined);
  const step = int(o.step);
  const totalSteps = int(o.totalSteps);
  if (step === undefined || totalSteps === undefined) return undefined;
  const out: RunProgress = { step, totalSteps };
  if (num(o.loss) !== undefined) out.loss = num(o.loss);
  if (int(o.generation) !== undefined) out.generation = int(o.generation);
  if (int(o.worldSize) !== undefined) out.worldSize = int(o.worldSize);
  if (int(o.restarts) !== undefined) out.restarts = int(o.restarts);
  const ck = o.lastCheckpoint as Record<string, unknown> | undefined;
  if (ck && typeof ck === "object" && int(ck.step) !== undefined && typeof ck.uri === "string") {
    out.lastCheckpoint = {
      step: int(ck.step)!,
      uri: ck.uri,
      time: typeof ck.time === "string" ? ck.time : "",
    };
  }
  if (o.evaluation && typeof o.evaluation === "object") {
    const ev: Record<string, number> = {};
    for (const [k, x] of Object.entries(o.evaluation as Record<string, unknown>)) {
      if (typeof x === "number" && Number.isFinite(x)) ev[k] = x;
    }
    out.evaluation = ev;
  }
  return out;
}

/** Reads progress from NATS KV; one connection per server URL, opened on first use. */
export function natsProgressReader(opts: { timeoutMs?: number } = {}): ProgressReader {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const conns = new Map<string, Promise<NatsConnection>>();
  const buckets = new Map<string, Promise<KV>>();
  const conn = (url: string) => {
    let c = conns.get(url);
    if (!c) {
      c = connect({ servers: url, timeout: timeoutMs, maxReconnectAttempts: -1 });
      c.catch(() => conns.delete(url));
      conns.set(url, c);
    }
    return c;
  };
  const bucket = (url: string, name: string) => {
    const key = `${url}\u0000${name}`;
    let b = buckets.get(key);
    if (!b) {
      b = conn(url).then((nc) => new Kvm(nc).open(name));
      b.catch(() => buckets.delete(key));
      buckets.set(key, b);
    }
    return b;
  };
  return {
    async read(run, spec, signal) {
      if (!spec.nats.url) return undefined;
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      const work = (async () => {
        const kv = await bucket(spec.nats.url!, spec.nats.kvBucket);
        const e = await kv.get(runProgressKey(run.name));
        return e && e.value.length ? parseProgress(e.string()) : undefined;
      })();
      const aborted = new Promise<undefined>((resolve) =>
        timeout.addEventListener("abort", () => resolve(undefined), { once: true }),
      );
      try {
        return await Promise.race([work, aborted]);
      } catch {
        return undefined;
      }
    },
    async close() {
      for (const c of conns.values()) await c.then((nc) => nc.close()).catch(() => {});
      conns.clear();
      buckets.clear();
    },
  };
}

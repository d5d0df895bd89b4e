// `radfleet bench rendezvous --workers N [--json]`: N simulated workers in this process, on real
// gRPC over loopback, join a coordinator and form a generation; one is killed (its session stream
// closed without a goodbye, as when its process dies); the survivors are told and re-form.
// Targets: N=512 in a generation within 1 s; survivors told within 500 ms of the kill.
import { loadavg } from "node:os";
import { intFlag, numFlag, parseCommandLine, usageError } from "../common/cli.js";
import { silentLogger } from "../common/log.js";
import { CoordinatorClient } from "../common/coordinator-client/index.js";
import { startCoordinator } from "../controller/coordinator/index.js";

const USAGE = `usage: radfleet bench rendezvous --workers N [--last-call-ms MS] [--json]

  --workers N         simulated workers (default 64)
  --last-call-ms MS   coordinator last call; the re-formed generation (N-1 workers, below max)
                      closes this long after the last rejoin (default 100)
  --json              print the figures as one JSON object`;

export interface RendezvousBenchResult {
  workers: number;
  lastCallMs: number;
  connectMs: number;
  joinLatencyMs: { p50: number; p99: number; max: number };
  firstGenerationMs: number;
  killToAllToldMs: number;
  killToFirstToldMs: number;
  killToNextGenerationMs: number;
  nextGenerationSize: number;
  /**
   * CPU time this process (all simulated workers and the coordinator together) spent in each
   * phase. Unlike the wall-clock figures it does not grow when other work shares the machine.
   */
  cpuMs: { firstGeneration: number; killToNextGeneration: number };
  /** 1-minute load average when the benchmark started, to judge the wall-clock figures. */
  loadAverage: number;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const round = (x: number) => Math.round(x * 10) / 10;

export async function benchRendezvous(workers: number, lastCallMs: number): Promise<RendezvousBenchResult> {
  const token = "bench-token";
  const runId = "bench-rendezvous";
  const coord = await startCoordinator({
    runId,
    token,
    minWorkers: 1,
    maxWorkers: workers,
    lastCallMs,
    joinTimeoutMs: 60_000,
    address: "127.0.0.1:0",
    logger: silentLogger,
  });
  const clients: CoordinatorClient[] = [];
  const loadAvg1 = loadavg()[0];
  try {
    const c0 = performance.now();
    clients.push(
      ...(await Promise.all(
        Array.from({ length: workers }, (_, i) =>
          CoordinatorClient.connect({
            address: coord.address,
            runId,
            token,
            workerId: `bench-${i}`,
            collectiveAddress: `10.1.${i >> 8}.${i & 255}:29500`,
            connectTimeoutMs: 30_000,
          }),
        ),
      )),
    );
    const connectMs = performance.now() - c0;

    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const latencies: number[] = [];
    const gens = await Promise.all(
      clients.map(async (c) => {
        const s = performance.now();
        const g = await c.join({ timeoutMs: 60_000 });
        latencies.push(performance.now() - s);
        return g;
      }),
    );
    const firstGenerationMs = performance.now() - t0;
    const firstGenerationCpuMs = cpuMsSince(cpu0);
    if (gens.some((g) => g.worldSize !== workers)) throw new Error("bench: the first generation is not full");
    const ranks = new Set(gens.map((g) => g.rank));
    if (ranks.size !== workers || Math.max(...ranks) !== workers - 1) {
      throw new Error("bench: ranks of the first generation are not 0..N-1, each once");
    }

    // Kill the highest rank; each survivor rejoins the moment it is told.
    const victimIndex = gens.findIndex((g) => g.rank === workers - 1);
    const survivors = clients.filter((_, i) => i !== victimIndex);
    const told: number[] = [];
    let tKill = 0;
    const rejoined = survivors.map(
      (c) =>
        new Promise<{ toldAt: number; size: number }>((resolve, reject) => {
          const off = c.onGenerationEnded(() => {
            off();
            const toldAt = performance.now();
            told.push(toldAt - tKill);
            c.join({ timeoutMs: 60_000 }).then((g) => resolve({ toldAt, size: g.worldSize }), reject);
          });
        }),
    );
    tKill = performance.now();
    const cpuKill = process.cpuUsage();
    await clients[victimIndex].close();
    const next = await Promise.all(rejoined);
    const killToNextGenerationMs = performance.now() - tKill;
    const reformCpuMs = cpuMsSince(cpuKill);
    told.sort((a, b) => a - b);
    latencies.sort((a, b) => a - b);
    return {
      workers,
      lastCallMs,
      connectMs: round(connectMs),
      joinLatencyMs: {
        p50: round(quantile(latencies, 0.5)),
        p99: round(quantile(latencies, 0.99)),
        max: round(latencies.at(-1)!),
      },
      firstGenerationMs: round(firstGenerationMs),
      killToFirstToldMs: round(told[0]),
      killToAllToldMs: round(told.at(-1)!),
      killToNextGenerationMs: round(killToNextGenerationMs),
      nextGenerationSize: next[0].size,
      cpuMs: { firstGeneration: round(firstGenerationCpuMs), killToNextGeneration: round(reformCpuMs) },
      loadAverage: round(loadAvg1),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await coord.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      workers: { type: "string" },
      "last-call-ms": { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let workers: number, lastCallMs: number;
  try {
    workers = intFlag("workers", values.workers, 64, 2);
    lastCallMs = numFlag("last-call-ms", values["last-call-ms"], 100, 0);
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const r = await benchRendezvous(workers, lastCallMs);
  if (values.json) {
    console.log(JSON.stringify(r));
    return 0;
  }
  const ok = (v: number, target: number) =>
    v <= target ? `ok, target ${target} ms` : `MISSED target ${target} ms`;
  console.log(
    [
      `rendezvous benchmark: ${r.workers} workers, one process, gRPC on loopback (load average ${r.loadAverage})`,
      `  connect (sessions open)        ${r.connectMs} ms`,
      `  join latency p50 / p99 / max   ${r.joinLatencyMs.p50} / ${r.joinLatencyMs.p99} / ${r.joinLatencyMs.max} ms`,
      `  first full generation          ${r.firstGenerationMs} ms (${ok(r.firstGenerationMs, 1000)})`,
      `  kill -> first survivor told    ${r.killToFirstToldMs} ms`,
      `  kill -> all survivors told     ${r.killToAllToldMs} ms (${ok(r.killToAllToldMs, 500)})`,
      `  kill -> next generation        ${r.killToNextGenerationMs} ms (${r.nextGenerationSize} workers; includes last call ${r.lastCallMs} ms)`,
      `  CPU time: first generation ${r.cpuMs.firstGeneration} ms, kill -> next generation ${r.cpuMs.killToNextGeneration} ms`,
    ].join("\n"),
  );
  return 0;
}

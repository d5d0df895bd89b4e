// `radfleet bench allreduce`: an nccl-tests style benchmark of the ring all-reduce between N worker
// processes. Per size it prints the median time per operation, algbw = size / time,
// busbw = algbw * 2(N-1)/N (the per-link bandwidth the ring needs: each rank sends and receives
// 2(N-1)/N of the data; see nccl-tests doc/PERFORMANCE.md), and a raw TCP baseline measured in the
// same run between the same processes with the same ring pattern, so busbw / baseline says how much
// of the socket's speed the collective keeps.
//
// Two ways to start it: by default it forks --workers processes on this machine; with
// --coordinator this process is one worker of a benchmark that spans machines (one process per
// pod), placed by a run coordinator's rendezvous (allreduce-join.ts), and rank 0 prints the results.

import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hostname } from "node:os";
import { choiceFlag, intFlag, parseCommandLine, usageError } from "../common/cli.js";
import { runJoined } from "./allreduce-join.js";
import type { SizeResult } from "./allreduce-measure.js";
import type { BenchPlan } from "./allreduce-worker.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "allreduce-worker.ts");

const USAGE = `usage: radfleet bench allreduce [--workers N] [--sizes 1MiB,16MiB,64MiB] [--iters K] [--warmup W]
                                [--compression none|fp16] [--timeout-ms MS] [--json]
       radfleet bench allreduce --coordinator HOST:PORT [--run ID] [--worker-id ID]
                                [--advertise-host HOST] [--workers N] [--join-timeout-ms MS] [options above]

  Default: starts --workers processes on this machine.
  With --coordinator: this process is one worker; start one per machine (pod) with the same
  options. The workers join the coordinator's rendezvous, connect to the peers' addresses it hands
  out, measure between themselves (raw TCP baseline included), and rank 0 prints the results.
  The run token comes from RADFLEET_TOKEN.

  --workers          processes to start (default 2); with --coordinator: the world size to expect
                     (a generation of another size is refused)
  --sizes            comma-separated byte sizes; suffixes B, KiB, MiB, GiB (default 1MiB,16MiB,64MiB)
  --iters            timed operations per size (default 10)
  --warmup           untimed operations per size before timing (default 2)
  --compression      all-reduce wire format (default none)
  --timeout-ms       collective failure bound (default 5000)
  --json             one JSON object per size on stdout instead of the table
  --coordinator      the run coordinator's host:port (RADFLEET_COORDINATOR in a trainer pod)
  --run              run id the coordinator serves (default RADFLEET_RUN_ID)
  --worker-id        this worker's id (default RADFLEET_WORKER_ID, else hostname-pid)
  --advertise-host   address the peers reach this machine at, e.g. the pod IP
                     (default RADFLEET_ADVERTISE_HOST, else 127.0.0.1)
  --join-timeout-ms  how long to wait for the generation to form (default 600000)`;

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1024,
  m: 1 << 20,
  mib: 1 << 20,
  mb: 1 << 20,
  g: 1 << 30,
  gib: 1 << 30,
  gb: 1 << 30,
};

export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new Error(`--sizes: cannot read ${JSON.stringify(s)}; expected e.g. 4096, 1MiB, 64MiB`);
  const bytes = Math.floor((Number(m[1]) * unit) / 4) * 4;
  if (bytes < 4) throw new Error(`--sizes: ${JSON.stringify(s)} is less than one float32 (4 bytes)`);
  return bytes;
}

export interface BenchRow {
  size: number;
  count: number;
  workers: number;
  time_ms: number;
  algbw_GBps: number;
  busbw_GBps: number;
  tcp_baseline_GBps: number;
  busbw_over_baseline: number;
  wrong: number;
}

export function toRow(r: SizeResult, n: number): BenchRow {
  const algbw = r.bytes / r.seconds / 1e9;
  const busbw = n > 1 ? (algbw * 2 * (n - 1)) / n : algbw;
  const base = r.bytes / r.rawSeconds / 1e9;
  // Significant digits, not decimals: a 4 KiB all-reduce on a busy machine runs at well under
  // 0.001 GB/s, and rounding that to 0 reads as "did not run".
  const sig = (x: number): number => Number(x.toPrecision(4));
  return {
    size: r.bytes,
    count: r.bytes / 4,
    workers: n,
    time_ms: sig(r.seconds * 1000),
    algbw_GBps: sig(algbw),
    busbw_GBps: sig(busbw),
    tcp_baseline_GBps: sig(base),
    busbw_over_baseline: sig(busbw / base),
    wrong: r.wrong,
  };
}

function nextMessage<T>(child: ChildProcess, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      child.off("message", onMsg);
      child.off("exit", onExit);
      signal.removeEventListener("abort", onAbort);
    };
    const onMsg = (m: T): void => {
      cleanup();
      resolve(m);
    };
    const onExit = (code: number | null, sig: string | null): void => {
      cleanup();
      reject(new Error(`bench worker ${child.pid} exited (code ${code}, signal ${sig}) before answering`));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason);
    };
    child.on("message", onMsg);
    child.on("exit", onExit);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export async function runBench(
  opts: {
    workers: number;
    sizes: number[];
    iters: number;
    warmup: number;
    compression: "none" | "fp16";
    timeoutMs: number;
  },
  signal: AbortSignal,
): Promise<BenchRow[]> {
  const children = Array.from({ length: opts.workers }, () =>
    fork(WORKER, [], {
      execArgv: [
        "--import",
        "tsx",
        ...(process.env.RADFLEET_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean),
      ],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    }),
  );
  try {
    const hellos = await Promise.all(
      children.map((c) => nextMessage<{ address: string; rawAddress: string }>(c, signal)),
    );
    const peers = hellos.map((h) => h.address);
    const rawPeers = hellos.map((h) => h.rawAddress);
    const answers = children.map((c) => nextMessage<{ results?: SizeResult[]; error?: string }>(c, signal));
    children.forEach((c, rank) => {
      const plan: BenchPlan = { rank, worldSize: opts.workers, peers, rawPeers, ...opts };
      c.send({ plan });
    });
    const replies = await Promise.all(answers);
    const failed = replies.flatMap((r, rank) => (r.error !== undefined ? [`rank ${rank}: ${r.error}`] : []));
    if (failed.length > 0) throw new Error(`bench workers failed: ${failed.join("; ")}`);
    return replies[0].results!.map((r) => toRow(r, opts.workers));
  } finally {
    // Workers exit on their own after answering; give them a moment, then make sure.
    const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
    await Promise.all(
      children.map((c) =>
        alive(c)
          ? new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 2000);
              c.once("exit", () => {
                clearTimeout(t);
                resolve();
              });
            })
          : undefined,
      ),
    );
    for (const c of children) if (alive(c)) c.kill("SIGKILL");
  }
}

function table(
  rows: BenchRow[],
  o: { workers: number; iters: number; compression: string; where: string },
): string {
  const pad = (s: string | number, w: number): string => String(s).padStart(w);
  const lines = [
    `# radfleet bench allreduce: ${o.workers} workers ${o.where}, float32 sum, ${o.iters} iters, compression ${o.compression}, ring over TCP`,
    `# busbw = algbw * 2(N-1)/N; tcp = raw TCP ring stream between the same processes, same run, interleaved; medians`,
    `#${pad("size(B)", 12)}${pad("count", 11)}${pad("time(ms)", 11)}${pad("algbw(GB/s)", 13)}${pad("busbw(GB/s)", 13)}${pad("tcp(GB/s)", 11)}${pad("busbw/tcp", 11)}${pad("#wrong", 8)}`,
  ];
  for (const r of rows) {
    lines.push(
      ` ${pad(r.size, 12)}${pad(r.count, 11)}${pad(r.time_ms.toFixed(2), 11)}${pad(r.algbw_GBps.toPrecision(3), 13)}${pad(r.busbw_GBps.toPrecision(3), 13)}${pad(r.tcp_baseline_GBps.toPrecision(3), 11)}${pad(r.busbw_over_baseline.toFixed(2), 11)}${pad(r.wrong, 8)}`,
    );
  }
  return lines.join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      workers: { type: "string" },
      sizes: { type: "string", default: "1MiB,16MiB,64MiB" },
      iters: { type: "string" },
      warmup: { type: "string" },
      compression: { type: "string" },
      "timeout-ms": { type: "string" },
      json: { type: "boolean", default: false },
      coordinator: { type: "string" },
      run: { type: "string" },
      "worker-id": { type: "string" },
      "advertise-host": { type: "string" },
      "join-timeout-ms": { type: "string", default: "600000" },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const values = parsed.values;
  let opts;
  let join;
  try {
    opts = {
      workers: intFlag("workers", values.workers, 2, 1),
      sizes: values.sizes.split(",").map(parseSize),
      iters: intFlag("iters", values.iters, 10, 1),
      warmup: intFlag("warmup", values.warmup, 2, 0),
      compression: choiceFlag("compression", values.compression, ["none", "fp16"] as const, "none"),
      timeoutMs: intFlag("timeout-ms", values["timeout-ms"], 5000, 1),
    };
    join = values.coordinator === undefined ? undefined : joinOptions(values, opts.workers, values.workers);
  } catch (err) {
    return usageError((err as Error).message, USAGE);
  }
  // Generous overall bound: a broken run must end, a slow machine must not be cut short.
  const totalBytes = opts.sizes.reduce((s, b) => s + b, 0) * (opts.iters + opts.warmup) * 2;
  const budgetMs = 60_000 + (totalBytes / 20e6) * 1000 + (join?.joinTimeoutMs ?? 0);
  const signal = AbortSignal.timeout(Math.ceil(budgetMs));
  try {
    let rows: BenchRow[];
    let where: string;
    if (join) {
      const r = await runJoined({ ...opts, ...join }, signal);
      rows = r.results.map((x) => toRow(x, r.worldSize));
      if (r.rank !== 0) {
        process.stderr.write(
          `bench allreduce: rank ${r.rank} of ${r.worldSize} (generation ${r.generation}) done; rank 0 at ${r.peers[0]} prints the results\n`,
        );
        return rows.some((x) => x.wrong > 0) ? 1 : 0;
      }
      opts.workers = r.worldSize;
      where = `joined through coordinator ${join.coordinator} (generation ${r.generation})`;
    } else {
      rows = await runBench(opts, signal);
      where = "on this machine";
    }
    if (values.json) for (const r of rows) process.stdout.write(JSON.stringify(r) + "\n");
    else
      process.stdout.write(
        table(rows, { workers: opts.workers, iters: opts.iters, compression: opts.compression, where }) +
          "\n",
      );
    return rows.some((r) => r.wrong > 0) ? 1 : 0;
  } catch (err) {
    process.stderr.write(`bench allreduce failed: ${(err as Error).message}\n`);
    return 1;
  }
}

/** The join-mode settings, from the flags or the trainer environment (common/trainer-env.ts names). */
function joinOptions(
  values: {
    coordinator?: string;
    run?: string;
    "worker-id"?: string;
    "advertise-host"?: string;
    "join-timeout-ms": string;
  },
  workers: number,
  workersFlag: string | undefined,
): {
  coordinator: string;
  runId: string;
  token: string;
  workerId: string;
  advertiseHost: string;
  expectWorkers?: number;
  joinTimeoutMs: number;
} {
  const env = process.env;
  const problems: string[] = [];
  const coordinator = values.coordinator ?? "";
  if (!/^[^\s]+:\d+$/.test(coordinator))
    problems.push(`--coordinator: expected host:port, got ${JSON.stringify(coordinator)}`);
  const runId = values.run ?? env.RADFLEET_RUN_ID ?? "";
  if (!runId) problems.push("--run (or RADFLEET_RUN_ID): required with --coordinator");
  const token = env.RADFLEET_TOKEN ?? "";
  if (!token) problems.push("RADFLEET_TOKEN: required with --coordinator, not set");
  const joinTimeoutMs = Number(values["join-timeout-ms"]);
  if (!Number.isInteger(joinTimeoutMs) || joinTimeoutMs < 1)
    problems.push(
      `--join-timeout-ms: expected an integer >= 1, got ${JSON.stringify(values["join-timeout-ms"])}`,
    );
  if (problems.length) throw new Error(problems.join("\n"));
  return {
    coordinator,
    runId,
    token,
    workerId: values["worker-id"] ?? (env.RADFLEET_WORKER_ID || `${hostname()}-${process.pid}`),
    advertiseHost: values["advertise-host"] ?? (env.RADFLEET_ADVERTISE_HOST || "127.0.0.1"),
    ...(workersFlag === undefined ? {} : { expectWorkers: workers }),
    joinTimeoutMs,
  };
}

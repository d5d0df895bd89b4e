// `radfleet bench allreduce --coordinator`: one real `radfleet` process per worker, placed by a real
// coordinator (gRPC on loopback, started here), measuring between themselves. Figures are printed,
// not asserted: only that the run completes, rank 0 alone prints, and the sums are right.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { silentLogger } from "../../common/log.js";
import { startCoordinator } from "../../controller/coordinator/index.js";

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../bin/radfleet.js");
const TOKEN = "bench-join-token";

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function radfleet(args: string[], timeoutMs = 90_000): Promise<Exit> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RADFLEET_TOKEN: TOKEN },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function coordinator(runId: string, workers: number): Promise<string> {
  const c = await startCoordinator({
    runId,
    token: TOKEN,
    minWorkers: workers,
    maxWorkers: workers,
    lastCallMs: 100,
    joinTimeoutMs: 60_000,
    address: "127.0.0.1:0",
    logger: silentLogger,
  });
  cleanup.push(() => c.close());
  return c.address;
}

const joinArgs = (address: string, runId: string, i: number, extra: string[]): string[] => [
  "bench",
  "allreduce",
  "--coordinator",
  address,
  "--run",
  runId,
  "--worker-id",
  `bench-${i}`,
  "--advertise-host",
  "127.0.0.1",
  "--sizes",
  "4KiB,1MiB",
  "--iters",
  "3",
  "--warmup",
  "1",
  ...extra,
];

describe("radfleet bench allreduce --coordinator (one process per worker)", () => {
  test.each([2, 3])("%i workers meet through the rendezvous; rank 0 prints JSON", async (n) => {
    const runId = `bench-join-${n}`;
    const address = await coordinator(runId, n);
    const exits = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        radfleet(joinArgs(address, runId, i, ["--workers", String(n), "--json"])),
      ),
    );
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    const printers = exits.filter((e) => e.stdout.trim() !== "");
    expect(printers).toHaveLength(1);
    const rows = printers[0].stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>);
    console.log(printers[0].stdout.trim());
    expect(rows.map((r) => r.size)).toEqual([4096, 1 << 20]);
    for (const r of rows) {
      expect(r.workers).toBe(n);
      expect(r.wrong).toBe(0);
      expect(r.busbw_GBps).toBeGreaterThan(0);
      expect(r.tcp_baseline_GBps).toBeGreaterThan(0);
    }
    const others = exits.filter((e) => e.stdout.trim() === "");
    for (const e of others)
      expect(e.stderr).toMatch(new RegExp(`rank [1-9] of ${n} .* rank 0 at 127\\.0\\.0\\.1:\\d+`));
  });

  test("the table names the coordinator; a generation of an unexpected size is refused", async () => {
    const address = await coordinator("bench-join-table", 2);
    const exits = await Promise.all(
      [0, 1].map((i) => radfleet(joinArgs(address, "bench-join-table", i, []))),
    );
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    const table = exits.map((e) => e.stdout).join("");
    expect(table).toMatch(
      new RegExp(`2 workers joined through coordinator ${address.replace(/\./g, "\\.")}`),
    );
    expect(table).toMatch(/busbw\/tcp/);

    const other = await coordinator("bench-join-size", 2);
    const refused = await Promise.all(
      [0, 1].map((i) => radfleet(joinArgs(other, "bench-join-size", i, ["--workers", "3"]))),
    );
    for (const e of refused) {
      expect(e.code).toBe(1);
      expect(e.stderr).toMatch(/with 2 workers, --workers expects 3/);
    }
  });

  test("join mode refuses missing settings with usage", async () => {
    const e = await radfleet(["bench", "allreduce", "--coordinator", "nowhere"]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/--coordinator: expected host:port/);
    expect(e.stderr).toMatch(/usage: radfleet bench allreduce/);
  });

  test("bad flag values are refused with the flag's name and the usage", async () => {
    for (const [args, why] of [
      [["--iters", "0"], /--iters: expected an integer >= 1, got "0"/],
      [["--workers", "2.5"], /--workers: expected an integer >= 1, got "2\.5"/],
      [["--compression", "zstd"], /--compression: expected one of none, fp16, got "zstd"/],
      [["--sizes", "lots"], /--sizes/],
      [["stray"], /unexpected argument "stray"/],
    ] as const) {
      const e = await radfleet(["bench", "allreduce", ...args]);
      expect(e.code, args.join(" ")).toBe(2);
      expect(e.stderr).toMatch(why);
      expect(e.stderr).toMatch(/usage: radfleet bench allreduce/);
    }
  });
});

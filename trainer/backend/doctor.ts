// `radfleet doctor`: which tensor backends load on this machine, with their versions and threads,
// and for each that does not, why and the one command that fixes it. Each backend is probed in a
// child process of its own: the two tfjs-node packages both register "tensorflow", and a binding
// that crashes on load must not take the report down with it.
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import {
  defaultCacheRoot,
  FLAVORS,
  nativeCacheDir,
  readManifest,
  type NativeFlavor,
} from "./native-cache.js";
import type { BackendInfo } from "./select.js";

export interface BackendProbe {
  /** tensorflow-gpu, tensorflow, wasm or cpu. */
  backend: string;
  pkg: string;
  loads: boolean;
  version?: string;
  threads?: number;
  threadSource?: string;
  /** A 512² matmul's rate, to show the engine computes (and roughly how fast). */
  matmulGflops?: number;
  /** Why it does not load. */
  reason?: string;
  /** The one command that fixes it. */
  fix?: string;
  /** Where the native build lives and when it was made (tensorflow backends). */
  cache?: { dir: string; builtAt?: string; wheels?: string[] };
}

export interface DoctorReport {
  node: string;
  platform: string;
  cores: number;
  /** What `backend: auto` picks here. */
  auto: string;
  backends: BackendProbe[];
}

const PROJECT_ROOT = resolve(import.meta.dirname, "..", "..");

interface Candidate {
  backend: string;
  choice: "tensorflow" | "wasm" | "cpu";
  pkg: string;
  flavor?: NativeFlavor;
}

const CANDIDATES: Candidate[] = [
  { backend: "tensorflow-gpu", choice: "tensorflow", pkg: FLAVORS.gpu.pkg, flavor: "gpu" },
  { backend: "tensorflow", choice: "tensorflow", pkg: FLAVORS.cpu.pkg, flavor: "cpu" },
  { backend: "wasm", choice: "wasm", pkg: "@tensorflow/tfjs-backend-wasm" },
  { backend: "cpu", choice: "cpu", pkg: "@tensorflow/tfjs-backend-cpu" },
];

function probeScript(c: Candidate): string {
  const index = JSON.stringify(join(import.meta.dirname, "index.ts"));
  return `import { initBackend, matmulGflops } from ${index};
let info;
try {
  info = await initBackend(${JSON.stringify(c.choice)}, { packages: [${JSON.stringify(c.pkg)}] });
} catch (err) {
  console.log(JSON.stringify({ error: err.message }));
  process.exit(0);
}
console.log(JSON.stringify({ info, gflops: matmulGflops(512, 512, 512, 5) }));`;
}

function runProbe(
  c: Candidate,
  env: NodeJS.ProcessEnv,
): Promise<{ info?: BackendInfo; gflops?: number; error?: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probeScript(c)], {
      cwd: PROJECT_ROOT,
      env: { ...env, RADFLEET_BACKEND: "", TF_CPP_MIN_LOG_LEVEL: env.TF_CPP_MIN_LOG_LEVEL ?? "2" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("close", (code, signal) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code === 0 && last.startsWith("{"))
        return done(JSON.parse(last) as { info?: BackendInfo; gflops?: number; error?: string });
      // The probe itself crashed (a binding that aborts on load): its last stderr line says how.
      done({
        error: `the probe process failed (${signal ?? `exit ${code}`}): ${err.trim().split("\n").pop() ?? ""}`,
      });
    });
  });
}

function fixFor(c: Candidate, reason: string): string {
  const setup = `npm run setup:tensorflow${c.flavor === "gpu" ? " -- --gpu" : ""}`;
  if (c.flavor === "gpu" && /not installed/.test(reason))
    return `on a machine with an NVIDIA GPU: npm install --no-save --ignore-scripts ${c.pkg}@4.22.0 && ${setup}`;
  if (c.flavor && /not built|does not load/.test(reason))
    return `${setup}${/does not load/.test(reason) ? " -- --force" : ""}`;
  return "npm ci";
}

export async function doctor(env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const backends: BackendProbe[] = [];
  for (const c of CANDIDATES) {
    const r = await runProbe(c, env);
    const probe: BackendProbe = { backend: c.backend, pkg: c.pkg, loads: !!r.info };
    if (r.info) {
      probe.version = r.info.version;
      probe.threads = r.info.threads;
      probe.threadSource = r.info.threadSource;
      probe.matmulGflops = Math.round((r.gflops ?? 0) * 10) / 10;
    } else {
      // "backend tensorflow requested but it is not available (@tensorflow/tfjs-node's binding is not built); run …"
      probe.reason = /\(([^)]*)\)/.exec(r.error ?? "")?.[1] ?? r.error;
      probe.fix = fixFor(c, probe.reason ?? "");
    }
    if (c.flavor) {
      const dir = nativeCacheDir(defaultCacheRoot(env), c.flavor);
      const m = readManifest(dir);
      probe.cache = m ? { dir, builtAt: m.builtAt, wheels: m.wheels } : { dir };
    }
    backends.push(probe);
  }
  const auto = backends.find((b) => b.loads)?.backend ?? "none";
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cores: availableParallelism(),
    auto: auto.startsWith("tensorflow")
      ? `tensorflow (${auto === "tensorflow-gpu" ? FLAVORS.gpu.pkg : FLAVORS.cpu.pkg})`
      : auto,
    backends,
  };
}

export function formatDoctor(r: DoctorReport): string {
  const lines = [`node ${r.node} on ${r.platform}, ${r.cores} cores; backend auto picks: ${r.auto}`, ""];
  for (const b of r.backends) {
    if (b.loads) {
      lines.push(
        `  ok   ${b.backend.padEnd(15)} ${b.pkg} · ${b.backend.startsWith("tensorflow") ? "libtensorflow " : ""}${b.version} · ${b.threads} thread(s) (${b.threadSource}) · matmul 512² ${b.matmulGflops} GFLOP/s`,
      );
    } else {
      lines.push(`  no   ${b.backend.padEnd(15)} ${b.reason}`);
      lines.push(`       ${"".padEnd(15)} fix: ${b.fix}`);
    }
  }
  return lines.join("\n");
}

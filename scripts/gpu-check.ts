// `npm run gpu-check`: on a machine with an NVIDIA GPU, after `npm install --no-save --ignore-scripts
// @tensorflow/tfjs-node-gpu@4.22.0 && npm run setup:tensorflow -- --gpu`, prints what a GPU trainer
// gets: the device libtensorflow placed ops on, the float32 matmul peak there, and one training
// step's time on the small preset (one worker). It exits 1 when no GPU is used.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "radfleet.js");

const smi = spawnSync(
  "nvidia-smi",
  ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
  {
    encoding: "utf8",
  },
);
console.log(`nvidia-smi: ${smi.status === 0 ? smi.stdout.trim() : "not found (no NVIDIA driver here?)"}`);

// libtensorflow logs the devices it creates at level 0 ("Created device ... GPU:0 with N MB memory").
const probe = `import { initBackend, matmulGflops } from ${JSON.stringify(join(ROOT, "trainer/backend/index.ts"))};
const info = await initBackend("tensorflow", { packages: ["@tensorflow/tfjs-node-gpu"] });
const peaks = {};
for (const n of [1024, 4096, 8192]) peaks[n] = matmulGflops(n, n, n, 10, false);
console.log(JSON.stringify({ info, peaks }));`;
const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], {
  cwd: ROOT,
  encoding: "utf8",
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "0", RADFLEET_BACKEND: "" },
  maxBuffer: 64 * 2 ** 20,
});
const devices = (r.stderr.match(/Created device [^\n]*/g) ?? []).map((l) =>
  l.replace(/^Created device /, ""),
);
const last = r.stdout.trim().split("\n").pop() ?? "";
if (r.status !== 0 || !last.startsWith("{")) {
  console.log(
    `@tensorflow/tfjs-node-gpu does not load: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
  );
  console.log(
    "fix: npm install --no-save --ignore-scripts @tensorflow/tfjs-node-gpu@4.22.0 && npm run setup:tensorflow -- --gpu",
  );
  process.exit(1);
}
const { info, peaks } = JSON.parse(last) as { info: { version: string }; peaks: Record<string, number> };
console.log(
  `libtensorflow ${info.version}; devices: ${devices.length ? devices.join("; ") : "none reported"}`,
);
console.log(
  `float32 matmul: ${Object.entries(peaks)
    .map(([n, g]) => `${n}² ${g.toFixed(0)} GFLOP/s`)
    .join(", ")}`,
);
const onGpu = devices.some((d) => /GPU:\d/.test(d));
if (!onGpu)
  console.log(
    "no GPU device was created: libtensorflow runs on the CPU (is the driver visible? LD_LIBRARY_PATH?)",
  );

// One training step: the small preset, one worker, a few steps (the first ones warm up).
const bench = spawnSync(
  process.execPath,
  [
    BIN,
    "bench",
    "train",
    "--backends",
    "tensorflow",
    "--preset",
    "small",
    "--workers",
    "1",
    "--steps",
    "8",
    "--json",
  ],
  { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 2 ** 20 },
);
if (bench.status !== 0) {
  console.log(`bench train failed: ${bench.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  process.exit(1);
}
const b = JSON.parse(bench.stdout) as {
  backends: { results: { stepSeconds: number; samplesPerSecond: number; mfu: number }[] }[];
};
const one = b.backends[0].results[0];
console.log(
  `small preset, 1 worker, batch 4: step ${(one.stepSeconds * 1000).toFixed(0)} ms, ${one.samplesPerSecond.toFixed(1)} samples/s, MFU ${(100 * one.mfu).toFixed(1)}% of the same-run matmul peak`,
);
process.exit(onGpu ? 0 : 1);

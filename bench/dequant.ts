// Dequantization micro-benchmark: prints how long NF4 → float32 takes for one weight matrix, next
// to the matmul that uses it, so one can judge whether per-call dequantization would dominate a step.
//   node --import tsx bench/dequant.ts [--rows 2048] [--cols 2048] [--tokens 128] [--reps 10] [--backend wasm|cpu]
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { LoraLinear } from "../trainer/qlora/index.js";
import { dequantizeNf4, quantizeNf4, type Nf4Tensor } from "../trainer/qlora/index.js";

export interface DequantBenchResult {
  rows: number;
  cols: number;
  backend: string;
  quantizeMs: number;
  dequantizeMs: number;
  dequantizeMParamsPerS: number;
  /** Output bytes written per second (float32). */
  dequantizeGBPerS: number;
  matmulMs: number;
  tokens: number;
  /** Forward + backward of a LoRA (r = 16) layer on this weight: cached float weight, and dequantized per call. */
  loraStepCachedMs: number;
  loraStepPerCallMs: number;
}

async function loraStepMs(
  q: Nf4Tensor,
  rows: number,
  cols: number,
  tokens: number,
  reps: number,
  perCall: boolean,
): Promise<number> {
  const layer = new LoraLinear({
    name: `bench${perCall ? "PerCall" : "Cached"}`,
    inFeatures: cols,
    outFeatures: rows,
    weight: q,
    lora: { r: 16, alpha: 32, dropout: 0.05, rslora: false },
    seed: 1,
    dequantizePerCall: perCall,
  });
  const x = tf.randomNormal([tokens, cols], 0, 1, "float32", 3); // [T, in]
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t = performance.now();
    const { value, grads } = tf.variableGrads(
      () => tf.mean(layer.apply(x, { training: true, dropoutSeed: i })) as tf.Scalar,
      layer.trainableVariables(),
    );
    await Promise.all(Object.values(grads).map((g) => g.data()));
    if (i > 0) times.push(performance.now() - t); // the first includes building the cache
    tf.dispose([value, ...Object.values(grads)]);
  }
  layer.dispose();
  x.dispose();
  return median(times);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchDequant(o: {
  rows: number;
  cols: number;
  tokens: number;
  reps: number;
  backend: string;
}): Promise<DequantBenchResult> {
  if (o.backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend(o.backend))) throw new Error(`backend ${o.backend} failed to initialise`);
  await tf.ready();
  const n = o.rows * o.cols;
  let seed = 1;
  const x = Float32Array.from(
    { length: n },
    () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.04,
  );
  let t = performance.now();
  const q = quantizeNf4(x, [o.rows, o.cols], { blockSize: 64, doubleQuant: true });
  const quantizeMs = performance.now() - t;
  const out = new Float32Array(n);
  dequantizeNf4(q, out); // warm-up (JIT)
  const dq: number[] = [];
  for (let i = 0; i < o.reps; i++) {
    t = performance.now();
    dequantizeNf4(q, out);
    dq.push(performance.now() - t);
  }
  // The layer multiplies by a host-transposed Wᵀ [in, out] (plain matmul); time that form.
  const w = tf.transpose(tf.tensor2d(out, [o.rows, o.cols])); // [in, out]
  const xs = tf.randomNormal([o.tokens, o.cols], 0, 1, "float32", 2); // [T, in]
  tf.matMul(xs, w).dispose(); // warm-up
  const mm: number[] = [];
  for (let i = 0; i < o.reps; i++) {
    t = performance.now();
    const y = tf.matMul(xs, w); // [T, out]
    await y.data();
    mm.push(performance.now() - t);
    y.dispose();
  }
  tf.dispose([w, xs]);
  const loraStepCachedMs = await loraStepMs(q, o.rows, o.cols, o.tokens, Math.min(o.reps, 5), false);
  const loraStepPerCallMs = await loraStepMs(q, o.rows, o.cols, o.tokens, Math.min(o.reps, 5), true);
  const dequantizeMs = median(dq);
  return {
    rows: o.rows,
    cols: o.cols,
    backend: o.backend,
    quantizeMs,
    dequantizeMs,
    dequantizeMParamsPerS: n / 1e6 / (dequantizeMs / 1e3),
    dequantizeGBPerS: (n * 4) / 1e9 / (dequantizeMs / 1e3),
    matmulMs: median(mm),
    tokens: o.tokens,
    loraStepCachedMs,
    loraStepPerCallMs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: "string", default: "2048" },
      cols: { type: "string", default: "2048" },
      tokens: { type: "string", default: "128" },
      reps: { type: "string", default: "10" },
      backend: { type: "string", default: "wasm" },
    },
  });
  const r = await benchDequant({
    rows: Number(values.rows),
    cols: Number(values.cols),
    tokens: Number(values.tokens),
    reps: Number(values.reps),
    backend: values.backend,
  });
  process.stdout.write(
    `NF4 dequantize [${r.rows}, ${r.cols}] (blocks of 64, double quant): ${r.dequantizeMs.toFixed(2)} ms median, ` +
      `${r.dequantizeMParamsPerS.toFixed(0)} Mparam/s (${r.dequantizeGBPerS.toFixed(2)} GB/s float32 out); ` +
      `quantize once: ${r.quantizeMs.toFixed(0)} ms; ${r.backend} matmul [${r.tokens}, ${r.cols}]·Wᵀ: ${r.matmulMs.toFixed(2)} ms median\n` +
      `LoRA layer forward+backward (r 16, ${r.tokens} tokens): ${r.loraStepCachedMs.toFixed(1)} ms with the cached float weight, ` +
      `${r.loraStepPerCallMs.toFixed(1)} ms dequantizing per call\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench dequant: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}

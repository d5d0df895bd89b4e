// `radfleet bench model`: the tiny preset's training step (forward + backward of the multitask loss
// over LoRA and head) and its greedy decoding speed on this machine. Prints figures; asserts none.
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendChoice } from "../backend.js";
import { buildModel, buildPrompt, countParameters, type VlmModel } from "./index.js";

const USAGE = `usage: radfleet bench model [--backend auto|wasm|cpu] [--batch 4] [--image-size 64] [--tokens 100]
                          [--steps 10] [--warmup 2] [--quantization nf4|none] [--lora-r 8] [--json]`;

const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

function batchOf(m: VlmModel, B: number, tokens: number) {
  const prompt = buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens });
  if (prompt.length >= tokens)
    throw new Error(`--tokens ${tokens}: the prompt alone has ${prompt.length} tokens`);
  const ids: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = prompt.slice();
    for (let t = prompt.length; t < tokens; t++)
      row.push(7 + ((b * 31 + t * 17) % (m.tokenizer.vocabSize - 7)));
    ids.push(...row);
  }
  const S = m.imageSize;
  return {
    pixels: tf.randomUniform([B, S, S, 3], -1, 1, "float32", 3) as tf.Tensor4D,
    inputIds: tf.tensor2d(ids, [B, tokens], "int32"),
    labels: tf.randomUniform([B, 14], 0, 1, "float32", 4).round() as tf.Tensor2D,
  };
}

/** LM cross-entropy over all positions (one-hot, no gather gradient) + BCE on the labels. */
function loss(m: VlmModel, b: ReturnType<typeof batchOf>, seed: number): tf.Scalar {
  const { logits, clsLogits } = m.forward(
    { pixels: b.pixels, inputIds: b.inputIds },
    { training: true, dropoutSeed: seed },
  );
  const [B, T, V] = logits.shape;
  const targets = b.inputIds.slice([0, 1], [B, T - 1]); // [B, T-1]
  const lp = tf.logSoftmax(logits.slice([0, 0, 0], [B, T - 1, V])); // [B, T-1, V]
  const ce = tf.neg(tf.mean(tf.sum(tf.mul(lp, tf.oneHot(targets, V)), -1)));
  const bce = tf.mean(
    tf.add(
      tf.sub(tf.relu(clsLogits), tf.mul(clsLogits, b.labels)),
      tf.log1p(tf.exp(tf.neg(tf.abs(clsLogits)))),
    ),
  );
  return tf.add(ce, bce) as tf.Scalar;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        backend: { type: "string", default: "auto" },
        batch: { type: "string", default: "4" },
        "image-size": { type: "string", default: "64" },
        tokens: { type: "string", default: "100" },
        steps: { type: "string", default: "10" },
        warmup: { type: "string", default: "2" },
        quantization: { type: "string", default: "nf4" },
        "lora-r": { type: "string", default: "8" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const B = int("batch", values.batch, 1);
  const tokens = int("tokens", values.tokens, 2);
  const steps = int("steps", values.steps, 1);
  const warmup = int("warmup", values.warmup, 0);
  const r = int("lora-r", values["lora-r"], 1);
  if (values.quantization !== "nf4" && values.quantization !== "none") {
    console.error(
      `--quantization: expected nf4 or none, got ${JSON.stringify(values.quantization)}\n${USAGE}`,
    );
    return 2;
  }
  const backend = await initBackend(values.backend as BackendChoice);
  const m = await buildModel({
    preset: "tiny",
    imageSize: int("image-size", values["image-size"], 8),
    quantization: { type: values.quantization, blockSize: 64, doubleQuant: true },
    lora: { r, alpha: 2 * r, dropout: 0.05, rslora: false, targetModules: TARGETS },
    head: { pooling: "image_tokens" },
    seed: 1,
  });
  const batch = batchOf(m, B, tokens);
  const vars = m.trainableVariables();
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => loss(m, batch, i), vars);
    await value.data(); // wait for the backend to finish
    const ms = performance.now() - t0;
    tf.dispose([value, ...Object.values(grads)]);
    if (i >= warmup) times.push(ms);
  }
  const stepMs = median(times);
  // Greedy decoding with the KV cache: 16 new tokens for the batch.
  const prompt = buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens });
  const g0 = performance.now();
  const out = await m.generate(
    batch.pixels,
    Array.from({ length: B }, () => prompt),
    { maxNewTokens: 16 },
  );
  const genS = (performance.now() - g0) / 1000;
  const generated = out.reduce((a, o) => a + o.length, 0);
  const params = countParameters(m.config);
  const trainable = vars.reduce((a, v) => a + v.size, 0);
  const result = {
    backend: backend.name,
    batch: B,
    imageSize: m.imageSize,
    tokensPerSequence: tokens,
    imageTokens: m.numImageTokens,
    parameters: params,
    trainableParameters: trainable,
    stepMsMedian: stepMs,
    stepMsMin: Math.min(...times),
    trainTokensPerSecond: (B * tokens) / (stepMs / 1000),
    generatedTokensPerSecond: generated / genS,
  };
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log(
      `backend ${result.backend}; tiny preset: ${params.total.toLocaleString("en")} parameters (vision ${params.vision}, projector ${params.projector}, language ${params.language}, head ${params.head}); ${trainable.toLocaleString("en")} trainable`,
    );
    console.log(
      `training step (B=${B}, ${m.imageSize}x${m.imageSize} images, ${tokens} tokens of which ${m.numImageTokens} image): median ${stepMs.toFixed(1)} ms, min ${result.stepMsMin.toFixed(1)} ms over ${steps} steps`,
    );
    console.log(`training throughput: ${result.trainTokensPerSecond.toFixed(0)} tokens/s`);
    console.log(
      `greedy generation with KV cache: ${generated} tokens in ${genS.toFixed(2)} s = ${result.generatedTokensPerSecond.toFixed(1)} tokens/s`,
    );
  }
  tf.dispose([batch.pixels, batch.inputIds, batch.labels]);
  m.dispose();
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await run(process.argv.slice(2));

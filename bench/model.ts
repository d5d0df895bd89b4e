// `radfleet bench model`: the tiny preset's training step (forward + backward of the multitask loss
// over LoRA and head) and its greedy decoding speed on this machine. Prints figures; asserts none.
import { choiceFlag, intFlag, parseCommandLine, usageError } from "../common/cli.js";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendChoice } from "../trainer/backend/index.js";
import {
  buildModel,
  buildPrompt,
  countParameters,
  type VisionLanguageModel,
} from "../trainer/model/index.js";

const USAGE = `usage: radfleet bench model [--backend auto|wasm|cpu] [--batch 4] [--image-size 64] [--tokens 100]
                          [--steps 10] [--warmup 2] [--quantization nf4|none] [--lora-r 8] [--json]`;

const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

function batchOf(m: VisionLanguageModel, B: number, tokens: number) {
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
function loss(m: VisionLanguageModel, b: ReturnType<typeof batchOf>, seed: number): tf.Scalar {
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
  const parsed = parseCommandLine(
    argv,
    {
      backend: { type: "string" },
      batch: { type: "string" },
      "image-size": { type: "string" },
      tokens: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
      quantization: { type: "string" },
      "lora-r": { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let B: number, tokens: number, steps: number, warmup: number, r: number, imageSize: number;
  let quantization: "nf4" | "none", backendChoice: BackendChoice;
  try {
    B = intFlag("batch", values.batch, 4);
    tokens = intFlag("tokens", values.tokens, 100, 2);
    steps = intFlag("steps", values.steps, 10);
    warmup = intFlag("warmup", values.warmup, 2, 0);
    r = intFlag("lora-r", values["lora-r"], 8);
    imageSize = intFlag("image-size", values["image-size"], 64, 8);
    quantization = choiceFlag("quantization", values.quantization, ["nf4", "none"] as const, "nf4");
    backendChoice = choiceFlag(
      "backend",
      values.backend,
      ["auto", "tensorflow", "wasm", "cpu"] as const,
      "auto",
    );
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  const backend = await initBackend(backendChoice);
  const m = await buildModel({
    preset: "tiny",
    imageSize,
    quantization: { type: quantization, blockSize: 64, doubleQuant: true },
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

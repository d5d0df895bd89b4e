// The tensor backends the in-process model tests run on: cpu and wasm always, and tensorflow
// (libtensorflow through @tensorflow/tfjs-node) when its binding is built by `npm run
// setup:tensorflow`. Under CI (CI=true, as .ci/run runs) tensorflow is required: a binding that
// failed to build must fail the suite, not quietly shrink it to the fallbacks.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";

async function loadTensorflow(): Promise<string | undefined> {
  try {
    await import("@tensorflow/tfjs-node");
    return tf.findBackend("tensorflow")
      ? undefined
      : "@tensorflow/tfjs-node registered no tensorflow backend";
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

const problem = await loadTensorflow();
if (problem && (process.env.CI === "true" || process.env.RADFLEET_REQUIRE_TENSORFLOW === "1"))
  throw new Error(
    `the tensorflow backend is required here but does not load (${problem}); run npm run setup:tensorflow`,
  );

/** cpu, wasm and, where it loads, tensorflow. */
export const MODEL_BACKENDS: string[] = problem ? ["cpu", "wasm"] : ["cpu", "wasm", "tensorflow"];
/** wasm and, where it loads, tensorflow: the engines radfleet trains on (cpu is the last resort). */
export const TRAINING_BACKENDS: string[] = MODEL_BACKENDS.filter((b) => b !== "cpu");
export const HAS_TENSORFLOW = !problem;

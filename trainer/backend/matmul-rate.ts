// The float32 matmul rate of the backend in use: what `radfleet doctor`, `radfleet bench train`
// and `npm run gpu-check` each measure, in their own processes, with the thread pool under test.
import * as tf from "@tensorflow/tfjs";

/**
 * GFLOP/s of [m, k] × [k, n], timed over `reps` products after one untimed warm-up. `syncEach`
 * reads every product back (CPU engines compute on the call anyway); false reads only the last, so
 * a GPU can queue the others as it would in a step.
 */
export function matmulGflops(m: number, k: number, n: number, reps: number, syncEach = true): number {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  tf.tidy(() => tf.matMul(a, b).dataSync());
  const t0 = performance.now();
  let last: tf.Tensor | undefined;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = tf.matMul(a, b);
    if (syncEach) last.dataSync();
  }
  last?.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([a, b, last!]);
  return (2 * m * k * n * reps) / seconds / 1e9;
}

// The collective for TensorFlow.js tensors: a thin adapter over the Float32Array operations. Values
// are read from the backend once, all-reduced (fused into buckets) or broadcast, and come back as
// new float32 tensors of the same shapes; the inputs are left as they are (the caller disposes).
import * as tf from "@tensorflow/tfjs";
import type { Collective } from "./collective.js";

function toArrays(tensors: tf.Tensor[]): Float32Array[] {
  return tensors.map((t, i) => {
    if (t.dtype !== "float32")
      throw new TypeError(`collective tensors[${i}]: expected float32, got ${t.dtype} (shape [${t.shape}])`);
    // A copy: dataSync may return the backend's own buffer, which must not be reduced in place.
    return Float32Array.from(t.dataSync() as Float32Array);
  });
}

/** Sums (or averages) each tensor across ranks; every rank gets the same bits. */
export async function allReduceTensors(
  collective: Collective,
  tensors: tf.Tensor[],
  op: "sum" | "mean",
): Promise<tf.Tensor[]> {
  const arrays = toArrays(tensors);
  await collective.allReduceMany(arrays, op);
  return arrays.map((a, i) => tf.tensor(a, tensors[i].shape, "float32"));
}

/** `root`'s values of each tensor on every rank (shapes must agree across ranks). */
export async function broadcastTensors(
  collective: Collective,
  tensors: tf.Tensor[],
  root: number,
): Promise<tf.Tensor[]> {
  const arrays = toArrays(tensors);
  for (const a of arrays) await collective.broadcast(a, root);
  return arrays.map((a, i) => tf.tensor(a, tensors[i].shape, "float32"));
}

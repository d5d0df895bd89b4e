// How many threads libtensorflow may use. Two trainers on one 2-core machine, each with
// TensorFlow's default pool (one thread per core), would oversubscribe it: every matmul would
// fight the other process for the same cores. So each trainer gets its share: the spec's
// resources.threads, else RADFLEET_CPU_LIMIT (on Kubernetes the pod's CPU request through the
// downward API; locally the launcher's cores / workers), else every core. TensorFlow reads TF_NUM_INTRAOP_THREADS and
// TF_NUM_INTEROP_THREADS once, when the library starts, so they are set before it is loaded.
import { availableParallelism } from "node:os";
import { CPU_LIMIT_ENV } from "../../common/trainer-env.js";

export interface ThreadPlan {
  /** Threads one op may use (matmul, conv, reductions). */
  intraOp: number;
  /** Ops run at once; eager execution runs one op at a time, so one is enough. */
  interOp: number;
  /** Where intraOp came from. */
  source: "TF_NUM_INTRAOP_THREADS" | "spec.resources.threads" | "RADFLEET_CPU_LIMIT" | "all cores";
}

function positiveInt(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(text.trim());
  const value = m ? (m[2] ? Number(m[1]) / 1000 : Number(m[1])) : NaN;
  if (!(value > 0))
    throw new Error(`${name}: expected a CPU count such as 2 or 1500m, got ${JSON.stringify(text)}`);
  // A fractional limit (1500m) still gets a whole thread for its part: Linux' CFS quota lets it run.
  return Math.max(1, Math.floor(value));
}

export function planThreads(
  specThreads: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ThreadPlan {
  const interOp = positiveInt(env.TF_NUM_INTEROP_THREADS, "TF_NUM_INTEROP_THREADS") ?? 1;
  const explicit = positiveInt(env.TF_NUM_INTRAOP_THREADS, "TF_NUM_INTRAOP_THREADS");
  if (explicit) return { intraOp: explicit, interOp, source: "TF_NUM_INTRAOP_THREADS" };
  if (specThreads) return { intraOp: specThreads, interOp, source: "spec.resources.threads" };
  const limit = positiveInt(env[CPU_LIMIT_ENV], CPU_LIMIT_ENV);
  if (limit)
    return { intraOp: Math.min(limit, availableParallelism()), interOp, source: "RADFLEET_CPU_LIMIT" };
  return { intraOp: availableParallelism(), interOp, source: "all cores" };
}

// A linear layer with a frozen (optionally NF4) base weight and a trainable low-rank adapter:
//   y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ,   s = α/r (or α/√r with rsLoRA)
// A [r, in] starts kaiming-uniform (bound 1/√in, as PEFT's init), B [out, r] starts at zero, so a
// fresh adapter leaves the output unchanged. W is never a tf.Variable: gradients cannot reach it.
//
// Memory trade-off: by default the dequantized float32 Wᵀ [in, out] is built on first use and kept
// (4 bytes per parameter beside the 0.52 bytes of NF4), so a step does not pay a dequantization, a
// transpose and a host-to-backend copy per layer per call (measured on wasm, [2048, 2048], 128 tokens:
// forward+backward 198 ms cached vs 367 ms per call). `dequantizePerCall: true` keeps only the NF4
// bytes resident and rebuilds Wᵀ on each use, the backward's included (as bitsandbytes' 4-bit matmul
// does): no float copy of the weight outlives the matmul that needed it, so a step's activations are
// the only thing that grows with depth. The model chooses per layer within a budget
// (spec.model.quantization.cacheDequantizedMiB).
import * as tf from "@tensorflow/tfjs";
import type { LoraOptions } from "../../common/spec/index.js";
import { dequantizeNf4, quantizeNf4, type Nf4Tensor } from "./nf4.js";

/** An adapter's settings: the run spec's model.lora without the targets (the model picks the layers). */
export type LoraConfig = Pick<LoraOptions, "r" | "alpha" | "dropout" | "rslora">;

export interface LoraLinearOptions {
  /** Module path, e.g. "model.language_model.layers.0.self_attn.q_proj". */
  name: string;
  inFeatures: number;
  outFeatures: number;
  /** Row-major [out, in] (PyTorch nn.Linear layout), float or already NF4. */
  weight: Float32Array | Nf4Tensor;
  bias?: Float32Array;
  /** Quantize a float weight to NF4; null keeps it float (still frozen). */
  quantize?: { blockSize: number; doubleQuant: boolean } | null;
  lora?: LoraConfig | null;
  /** Seed of A's initialisation (kaiming-uniform). */
  seed: number;
  /** NF4 weights only: dequantize on every call instead of caching the float weight (see top). */
  dequantizePerCall?: boolean;
}

// tf.js variable names are global to the engine; a per-process counter keeps two layers with the
// same module path (two models in one process, e.g. in tests) from colliding.
let instances = 0;

/** Row-major [rows, cols] → [cols, rows]. */
function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c];
  }
  return out;
}

/** 32-bit FNV-1a of a string: a stable per-layer salt for dropout seeds. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function mixSeed(seed: number, salt: number): number {
  return (Math.imul((seed >>> 0) ^ salt, 0x9e3779b1) >>> 0) ^ salt;
}

function isNf4(w: Float32Array | Nf4Tensor): w is Nf4Tensor {
  return !(w instanceof Float32Array);
}

export class LoraLinear {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly loraA: tf.Variable | null;
  readonly loraB: tf.Variable | null;
  readonly scale: number;
  /** The frozen NF4 weight, or null for a float base weight. */
  readonly quantized: Nf4Tensor | null;
  readonly dequantizePerCall: boolean;
  private readonly dropout: number;
  /** Float base weight kept as given (unquantized layers only). */
  private readonly floatWeight: Float32Array | null;
  /** Wᵀ [in, out] as a tensor, cached (default mode; null until first use or after release). */
  private weightCache: tf.Tensor2D | null = null;
  private readonly bias: tf.Tensor1D | null;
  private readonly nameHash: number;

  constructor(o: LoraLinearOptions) {
    this.name = o.name;
    this.inFeatures = o.inFeatures;
    this.outFeatures = o.outFeatures;
    const n = o.inFeatures * o.outFeatures;
    if (isNf4(o.weight)) {
      this.quantized = o.weight;
      this.floatWeight = null;
    } else if (o.quantize) {
      this.quantized = quantizeNf4(o.weight, [o.outFeatures, o.inFeatures], o.quantize);
      this.floatWeight = null;
    } else {
      this.quantized = null;
      this.floatWeight = o.weight;
    }
    const got = this.quantized ? this.quantized.shape.reduce((p, d) => p * d, 1) : this.floatWeight!.length;
    if (got !== n) {
      throw new Error(
        `${o.name}.weight: expected ${o.outFeatures}x${o.inFeatures} = ${n} values, got ${got}`,
      );
    }
    if (o.bias && o.bias.length !== o.outFeatures)
      throw new Error(`${o.name}.bias: expected ${o.outFeatures} values, got ${o.bias.length}`);
    this.nameHash = fnv1a(o.name);
    this.dequantizePerCall = Boolean(o.dequantizePerCall && this.quantized);
    this.bias = o.bias ? tf.tensor1d(o.bias) : null;
    if (o.lora) {
      const { r, alpha, rslora, dropout } = o.lora;
      if (!Number.isInteger(r) || r < 1)
        throw new Error(`${o.name}: lora r: expected an integer >= 1, got ${r}`);
      if (!(dropout >= 0 && dropout < 1))
        throw new Error(`${o.name}: lora dropout: expected [0, 1), got ${dropout}`);
      this.scale = rslora ? alpha / Math.sqrt(r) : alpha / r;
      // PEFT's init: kaiming_uniform_(A, a=√5), whose bound works out to 1/√in.
      const bound = 1 / Math.sqrt(o.inFeatures);
      const id = instances++;
      this.loraA = tf.variable(
        tf.randomUniform([r, o.inFeatures], -bound, bound, "float32", o.seed),
        true,
        `${o.name}.lora_A#${id}`,
      );
      this.loraB = tf.variable(tf.zeros([o.outFeatures, r]), true, `${o.name}.lora_B#${id}`);
      this.dropout = dropout;
    } else {
      this.scale = 0;
      this.loraA = null;
      this.loraB = null;
      this.dropout = 0;
    }
  }

  /** Wᵀ [in, out] as a tensor: the cache, or (per-call mode) a fresh copy the caller's tidy disposes. */
  private weightT(): tf.Tensor2D {
    if (this.weightCache) return this.weightCache;
    const base = this.quantized ? dequantizeNf4(this.quantized) : this.floatWeight!;
    // Transposed once on the host: a plain x·Wᵀ matmul is several times faster than matMul with
    // transposeB on the wasm and cpu backends (measured: 29 ms vs 177 ms for [128,1024]·[1024,1024]).
    const wt = tf.tensor2d(transpose(base, this.outFeatures, this.inFeatures), [
      this.inFeatures,
      this.outFeatures,
    ]);
    if (this.dequantizePerCall) return wt;
    // keep() so an enclosing tidy (the first apply) does not dispose the cache.
    this.weightCache = tf.keep(wt);
    return this.weightCache;
  }

  /**
   * x·Wᵀ with a hand-written gradient for x only: W is frozen, so its gradient is never built, and
   * dx = dy·W uses a plain matmul on a transposed copy instead of the slow transposed-operand path.
   */
  private readonly frozenMatMul = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D; // [N, in]
    const save = args[1] as tf.GradSaveFunc;
    const wt = this.weightT(); // [in, out]
    const value = tf.matMul(x, wt) as tf.Tensor; // [N, out]
    // Per call: nothing is saved for the backward, which dequantizes again.
    if (this.dequantizePerCall) {
      save([]);
      wt.dispose();
    } else save([wt]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[0] ?? this.weightT()))), // [N, in]
    };
  });

  apply(x: tf.Tensor, opts: { training: boolean; dropoutSeed?: number }): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, this.inFeatures]); // [N, in]
      let y: tf.Tensor = this.frozenMatMul(x2); // [N, out]
      if (this.bias) y = tf.add(y, this.bias);
      if (this.loraA && this.loraB) {
        let xd = x2;
        if (opts.training && this.dropout > 0) {
          // Deterministic mask from the step's seed mixed with the layer's name: replicas and resumed
          // runs draw the same masks, and two layers of the same shape do not share one.
          const keep = tf.less(
            tf.randomUniform(x2.shape, 0, 1, "float32", mixSeed(opts.dropoutSeed ?? 0, this.nameHash)),
            1 - this.dropout,
          );
          xd = tf.div(tf.mul(x2, tf.cast(keep, "float32")), 1 - this.dropout);
        }
        const low = tf.matMul(xd, this.loraA, false, true); // [N, r]
        y = tf.add(y, tf.mul(tf.matMul(low, this.loraB, false, true), this.scale)); // [N, out]
      }
      return y.reshape([...lead, this.outFeatures]);
    });
  }

  trainableVariables(): tf.Variable[] {
    return this.loraA && this.loraB ? [this.loraA, this.loraB] : [];
  }

  /** W + s·B·A, row-major [out, in], for export without the adapter. */
  merged(): Float32Array {
    const w = this.baseWeight();
    if (this.loraA && this.loraB) {
      const delta = tf.tidy(() => tf.mul(tf.matMul(this.loraB!, this.loraA!), this.scale)); // [out, in]
      const d = delta.dataSync();
      for (let i = 0; i < w.length; i++) w[i] += d[i];
      delta.dispose();
    }
    return w;
  }

  /** The frozen base weight as the layer uses it, row-major [out, in]. */
  baseWeight(): Float32Array {
    if (this.quantized) return dequantizeNf4(this.quantized);
    return this.floatWeight!.slice();
  }

  /** Drops the cached float weight (it is rebuilt on the next call). */
  releaseWeightCache(): void {
    this.weightCache?.dispose();
    this.weightCache = null;
  }

  dispose(): void {
    this.releaseWeightCache();
    tf.dispose([...(this.bias ? [this.bias] : []), ...this.trainableVariables()]);
  }
}

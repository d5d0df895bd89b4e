// A linear layer with a frozen (optionally NF4) base weight and a trainable low-rank adapter:
//   y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ,   s = α/r (or α/√r with rsLoRA)
// A [r, in] starts kaiming-uniform (bound 1/√in, as PEFT's init), B [out, r] starts at zero, so a
// fresh adapter leaves the output unchanged. W is never a tf.Variable: gradients cannot reach it.
import * as tf from "@tensorflow/tfjs";
import { dequantizeNf4, quantizeNf4, type Nf4Tensor } from "./nf4.js";

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
}

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
  /** Seed of A's initialisation. */
  seed: number;
}

// tf.js variable names are global to the engine; a per-process counter keeps two layers with the
// same module path (two models in one process, e.g. in tests) from colliding.
let instances = 0;

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
  readonly quantized: Nf4Tensor | null;
  private readonly dropout: number;
  /** Wᵀ [in, out], dequantized once: the CPU trade of memory (float copy) for step time. */
  private readonly weightT: tf.Tensor2D;
  private readonly bias: tf.Tensor1D | null;

  constructor(o: LoraLinearOptions) {
    this.name = o.name;
    this.inFeatures = o.inFeatures;
    this.outFeatures = o.outFeatures;
    let w: Float32Array;
    if (isNf4(o.weight)) {
      this.quantized = o.weight;
      w = dequantizeNf4(o.weight);
    } else if (o.quantize) {
      this.quantized = quantizeNf4(o.weight, [o.outFeatures, o.inFeatures], o.quantize);
      w = dequantizeNf4(this.quantized);
    } else {
      this.quantized = null;
      w = o.weight;
    }
    if (w.length !== o.inFeatures * o.outFeatures) {
      throw new Error(`${o.name}.weight: expected ${o.outFeatures}x${o.inFeatures} values, got ${w.length}`);
    }
    this.weightT = tf.tidy(() => tf.transpose(tf.tensor2d(w, [o.outFeatures, o.inFeatures])));
    this.bias = o.bias ? tf.tensor1d(o.bias) : null;
    if (o.lora) {
      const { r, alpha, rslora } = o.lora;
      this.scale = rslora ? alpha / Math.sqrt(r) : alpha / r;
      const bound = 1 / Math.sqrt(o.inFeatures);
      const id = instances++;
      this.loraA = tf.variable(
        tf.randomUniform([r, o.inFeatures], -bound, bound, "float32", o.seed),
        true,
        `${o.name}.lora_A#${id}`,
      );
      this.loraB = tf.variable(tf.zeros([o.outFeatures, r]), true, `${o.name}.lora_B#${id}`);
      this.dropout = o.lora.dropout;
    } else {
      this.scale = 0;
      this.loraA = null;
      this.loraB = null;
      this.dropout = 0;
    }
  }

  apply(x: tf.Tensor, opts: { training: boolean; dropoutSeed?: number }): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, this.inFeatures]); // [N, in]
      let y: tf.Tensor = tf.matMul(x2, this.weightT); // [N, out]
      if (this.bias) y = tf.add(y, this.bias);
      if (this.loraA && this.loraB) {
        let xd = x2;
        if (opts.training && this.dropout > 0) {
          // Deterministic mask from the seed: replicas and resumed runs draw the same one.
          const keep = tf.less(
            tf.randomUniform(x2.shape, 0, 1, "float32", opts.dropoutSeed ?? 0),
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
    return tf
      .tidy(() => {
        let w: tf.Tensor = tf.transpose(this.weightT);
        if (this.loraA && this.loraB) w = tf.add(w, tf.mul(tf.matMul(this.loraB, this.loraA), this.scale));
        return w.dataSync() as Float32Array;
      })
      .slice();
  }

  /** The frozen base weight as the layer uses it, row-major [out, in]. */
  baseWeight(): Float32Array {
    return (tf.tidy(() => tf.transpose(this.weightT)).dataSync() as Float32Array).slice();
  }

  dispose(): void {
    tf.dispose([this.weightT, ...(this.bias ? [this.bias] : []), ...this.trainableVariables()]);
  }
}

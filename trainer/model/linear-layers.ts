// What the network needs of a linear layer, and the fully trainable kind used to pretrain the tiny
// base. The usual kind is qlora's LoraLinear: a frozen (often NF4) base with a trainable adapter.
import * as tf from "@tensorflow/tfjs";

/** A linear layer as the modules call it: LoRA-wrapped frozen base, or fully trainable (trainBase). */
export interface Linear {
  /** x [..., in] → [..., out]; dropoutSeed seeds the adapter's dropout (mixed with the layer's name). */
  apply(x: tf.Tensor, opts: { training: boolean; dropoutSeed?: number }): tf.Tensor;
  trainableVariables(): tf.Variable[];
  dispose(): void;
}

/** A plain linear layer whose weight and bias are trainable variables: pretraining the tiny base. */
export class FullLinear implements Linear {
  readonly weight: tf.Variable; // [out, in], PyTorch layout so saveBase writes it as is
  readonly bias: tf.Variable | null; // [out]
  /** `id` keeps tf.js variable names unique when one process holds several models. */
  constructor(path: string, shape: number[], w: Float32Array, b: Float32Array | undefined, id: number) {
    this.weight = tf.variable(tf.tensor2d(w, [shape[0], shape[1]]), true, `${path}.weight#${id}`);
    this.bias = b ? tf.variable(tf.tensor1d(b), true, `${path}.bias#${id}`) : null;
  }

  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const inF = this.weight.shape[1]!;
    let y = tf.matMul(x.reshape([-1, inF]), this.weight, false, true); // [N, out]
    if (this.bias) y = tf.add(y, this.bias);
    return y.reshape([...lead, this.weight.shape[0]!]); // [..., out]
  }

  trainableVariables(): tf.Variable[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  dispose(): void {
    tf.dispose(this.trainableVariables());
  }
}

// The two norms as modules holding their weights: SigLIP's LayerNorm and Qwen2's RMSNorm.
import type * as tf from "@tensorflow/tfjs";
import type { ParameterStore } from "./parameter-store.js";
import { layerNorm, rmsNorm } from "./tensor-ops.js";
import type { NormSpec } from "./weight-table.js";

export class LayerNorm {
  private readonly gamma: tf.Tensor; // [D]
  private readonly beta: tf.Tensor; // [D]
  constructor(
    spec: NormSpec,
    store: ParameterStore,
    private readonly eps: number,
  ) {
    if (!spec.bias) throw new Error(`${spec.weight.name}: LayerNorm needs a bias in the weight table`);
    this.gamma = store.tensor(spec.weight);
    this.beta = store.tensor(spec.bias);
  }

  forward(x: tf.Tensor): tf.Tensor3D {
    return layerNorm(x, this.gamma, this.beta, this.eps); // [B, T, D]
  }
}

export class RmsNorm {
  private readonly weight: tf.Tensor; // [D]
  constructor(
    spec: NormSpec,
    store: ParameterStore,
    private readonly eps: number,
  ) {
    this.weight = store.tensor(spec.weight);
  }

  forward(x: tf.Tensor): tf.Tensor3D {
    return rmsNorm(x, this.weight, this.eps); // [B, T, D]
  }
}

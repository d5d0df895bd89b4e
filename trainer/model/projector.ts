// The two-layer MLP projector from the vision tower's width to the decoder's.
import type * as tf from "@tensorflow/tfjs";
import type { ForwardOptions } from "./forward-options.js";
import type { Linear } from "./linear-layers.js";
import type { ParameterStore } from "./parameter-store.js";
import { geluErf } from "./tensor-ops.js";
import type { ProjectorSpec } from "./weight-table.js";

export class Projector {
  private readonly linear1: Linear;
  private readonly linear2: Linear;
  constructor(spec: ProjectorSpec, store: ParameterStore) {
    this.linear1 = store.linear(spec.linear1);
    this.linear2 = store.linear(spec.linear2);
  }

  /** [B, N, D_v] → [B, N, D] */
  forward(features: tf.Tensor3D, o: ForwardOptions): tf.Tensor3D {
    const h = this.linear1.apply(features, o); // [B, N, D]
    return this.linear2.apply(geluErf(h), o) as tf.Tensor3D; // [B, N, D]
  }
}

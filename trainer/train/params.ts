// The trainable parameters as one flat float32 vector: the unit the all-reduce, the optimizer,
// the replica checksum and the checkpoint all work on. Order is the model's trainableVariables()
// order, which is stable across processes.
import * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";

export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  variable: tf.Variable;
}

export class FlatParams {
  readonly slots: ParamSlot[];
  readonly size: number;

  constructor(variables: tf.Variable[]) {
    let offset = 0;
    const seen = new Set<string>();
    this.slots = variables.map((v) => {
      if (seen.has(v.name)) throw new Error(`trainable variable ${v.name} appears twice`);
      seen.add(v.name);
      const slot = { name: v.name, shape: v.shape, offset, size: v.size, variable: v };
      offset += v.size;
      return slot;
    });
    this.size = offset;
  }

  /** Copies the current values into one vector. */
  read(out = new Float32Array(this.size)): Float32Array {
    for (const s of this.slots) out.set(s.variable.dataSync() as Float32Array, s.offset);
    return out;
  }

  /** Assigns the vector's values to the variables. */
  write(flat: Float32Array): void {
    for (const s of this.slots) {
      const t = tf.tensor(flat.subarray(s.offset, s.offset + s.size), s.shape, "float32");
      s.variable.assign(t);
      t.dispose();
    }
  }

  /** Flattens a gradient map (as from tf.variableGrads) in slot order; missing gradients are zeros. */
  flattenGrads(grads: Record<string, tf.Tensor>, out = new Float32Array(this.size)): Float32Array {
    for (const s of this.slots) {
      const g = grads[s.name];
      if (g) out.set(g.dataSync() as Float32Array, s.offset);
      else out.fill(0, s.offset, s.offset + s.size);
    }
    return out;
  }

  /** sha256 of the parameter bytes: equal on every replica iff the replicas are bit-identical. */
  checksum(): string {
    const h = createHash("sha256");
    for (const s of this.slots) {
      const d = s.variable.dataSync() as Float32Array;
      h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
    return h.digest("hex");
  }
}

// The network's tensors, made once from the weight table and a checkpoint's weights: frozen float
// tensors (embeddings, norms, positions, image_newline), or variables when the base trains, and one
// linear layer per table entry. Modules look their tensors up by table entry, never by a name string.
import * as tf from "@tensorflow/tfjs";
import { LoraLinear } from "../qlora/index.js";
import { FullLinear, type Linear } from "./linear-layers.js";
import { buildLinear, FloatCopyBudget, type LinearOptions } from "./linear-policy.js";
import type { LinearSpec, LlavaWeightTable, TensorSpec } from "./weight-table.js";
import type { WeightMap } from "./weight-map.js";

export class ParameterStore {
  private readonly tensors = new Map<TensorSpec, tf.Tensor>();
  private readonly linears = new Map<LinearSpec, Linear>();
  /** The float biases of LoRA-wrapped layers, for floatWeights (the layer keeps its own tensor). */
  private readonly loraBiases = new Map<TensorSpec, Float32Array>();

  /** The head is not here (see ClassifierHead). `id` keeps tf.js variable names unique per model. */
  constructor(
    private readonly table: LlavaWeightTable,
    weights: WeightMap,
    private readonly o: LinearOptions,
    id: number,
  ) {
    const budget = new FloatCopyBudget(o.quantization.cacheDequantizedMiB);
    const linearBiases = new Set<TensorSpec>();
    for (const l of table.linears) {
      this.linears.set(l, buildLinear(l, weights, o, budget, id));
      if (!l.bias) continue;
      linearBiases.add(l.bias);
      if (o.trainBase !== true) this.loraBiases.set(l.bias, weights.get(l.bias.name)!.data);
    }
    for (const spec of table.tensors) {
      if (spec.linear || linearBiases.has(spec) || spec.part === "head") continue;
      const t = tf.tensor(weights.get(spec.name)!.data, spec.shape);
      // A tensor the forward never reads gets no gradient: it stays a constant.
      const asVariable = o.trainBase === true && !spec.unused;
      this.tensors.set(spec, asVariable ? tf.variable(t, true, `${spec.name}#${id}`) : t);
      if (asVariable) t.dispose();
    }
  }

  tensor(spec: TensorSpec): tf.Tensor {
    const t = this.tensors.get(spec);
    if (!t) throw new Error(`no tensor ${spec.name} in this model`);
    return t;
  }

  linear(spec: LinearSpec): Linear {
    const l = this.linears.get(spec);
    if (!l) throw new Error(`no linear layer ${spec.path} in this model`);
    return l;
  }

  /** Base tensors first when they train, then the linear layers' variables, both in table order. */
  trainableVariables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    if (this.o.trainBase === true)
      for (const t of this.tensors.values()) if (t instanceof tf.Variable) vars.push(t);
    for (const l of this.linears.values()) vars.push(...l.trainableVariables());
    return vars;
  }

  /** Linear layers that carry an adapter, in table order. */
  loraLayers(): LoraLinear[] {
    return [...this.linears.values()].filter(
      (l): l is LoraLinear => l instanceof LoraLinear && l.loraA !== null,
    );
  }

  /** One tensor's float values as saved (LoRA merged into linear weights), row-major PyTorch layout. */
  floatValues(spec: TensorSpec): Float32Array {
    const owner = this.table.linears.find((l) => l.weight === spec || l.bias === spec);
    if (!owner) return this.tensor(spec).dataSync() as Float32Array;
    const lin = this.linear(owner);
    if (lin instanceof FullLinear)
      return (spec === owner.weight ? lin.weight : lin.bias!).dataSync() as Float32Array;
    if (lin instanceof LoraLinear) return spec === owner.weight ? lin.merged() : this.loraBiases.get(spec)!;
    throw new Error(`${spec.name}: linear layer of an unknown kind`);
  }

  dispose(): void {
    tf.dispose([...this.tensors.values()]);
    for (const l of this.linears.values()) l.dispose();
  }
}

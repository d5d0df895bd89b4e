// How each linear layer of the table is built from the run's options, one small rule each:
// which get a LoRA adapter, which frozen weights are quantized to NF4, and which NF4 layers keep a
// float copy of their weight within the cache budget.
import { dequantizeNf4, LoraLinear, type LoraLinearOptions } from "../qlora/index.js";
import type { LoraOptions, QuantizationOptions } from "../../common/spec/index.js";
import type { ModelConfig } from "./config.js";
import { FullLinear, type Linear } from "./linear-layers.js";
import { llavaWeightTable, type LinearSpec } from "./weight-table.js";
import type { WeightMap } from "./weight-map.js";
import { hashSeed } from "./weight-init.js";

/** What the linear rules read of the network's options. */
export interface LinearOptions {
  quantization: QuantizationOptions;
  lora: LoraOptions;
  seed: number;
  /** Every weight a float variable, no LoRA (pretraining the tiny base). */
  trainBase?: boolean;
}

/** A layer gets an adapter when its leaf name is among lora.targetModules. */
export function isLoraTarget(spec: LinearSpec, lora: Pick<LoraOptions, "targetModules">): boolean {
  return lora.targetModules.includes(spec.module);
}

/** The NF4 settings for a float base weight, or null to keep it float: targeted layers of a frozen base. */
type Nf4Settings = NonNullable<LoraLinearOptions["quantize"]>;

/** What the quantization rule reads (the float-copy budget is not part of it). */
export interface QuantizationRuleOptions {
  quantization: Pick<QuantizationOptions, "type" | "blockSize" | "doubleQuant">;
  lora: Pick<LoraOptions, "targetModules">;
  trainBase?: boolean;
}

export function nf4Quantization(spec: LinearSpec, o: QuantizationRuleOptions): Nf4Settings | null {
  return o.trainBase !== true && o.quantization.type === "nf4" && isLoraTarget(spec, o.lora)
    ? { blockSize: o.quantization.blockSize, doubleQuant: o.quantization.doubleQuant }
    : null;
}

/**
 * The same rule by weight name, for readCheckpointDir to quantize float weights as it reads them
 * instead of holding the float model first. Given the checkpoint's config, it answers per tensor.
 */
export function quantizeOnLoad(
  o: QuantizationRuleOptions,
): (config: ModelConfig) => (name: string, shape: number[]) => Nf4Settings | null {
  return (config) => {
    const byWeight = new Map(llavaWeightTable(config).linears.map((l) => [l.weight.name, l]));
    return (name, shape) => {
      const spec = byWeight.get(name);
      return spec && shape.length === 2 ? nf4Quantization(spec, o) : null;
    };
  };
}

/**
 * Float copies of NF4 weights kept resident, up to a budget in MiB: layers are offered in table
 * order (vision tower first) and each keeps its copy if it still fits; the others dequantize on
 * every use.
 */
export class FloatCopyBudget {
  private bytesLeft: number;
  constructor(mib: number) {
    this.bytesLeft = mib * 2 ** 20;
  }

  /** Whether a layer of this many float bytes keeps its copy (and takes it from the budget). */
  keeps(floatBytes: number): boolean {
    if (floatBytes > this.bytesLeft) return false;
    this.bytesLeft -= floatBytes;
    return true;
  }
}

/** Builds one linear layer of the table from its checkpoint weights under the rules above. */
export function buildLinear(
  spec: LinearSpec,
  weights: WeightMap,
  o: LinearOptions,
  budget: FloatCopyBudget,
  id: number,
): Linear {
  const w = weights.get(spec.weight.name)!;
  const bias = spec.bias ? weights.get(spec.bias.name)?.data : undefined;
  const shape = spec.weight.shape;
  if (o.trainBase === true)
    return new FullLinear(spec.path, shape, w.nf4 ? dequantizeNf4(w.nf4) : w.data, bias, id);
  const quantize = nf4Quantization(spec, o);
  const nf4 = w.nf4 !== undefined || quantize !== null;
  const perCall = nf4 && !budget.keeps(spec.outFeatures * spec.inFeatures * 4);
  return new LoraLinear({
    name: spec.path,
    inFeatures: spec.inFeatures,
    outFeatures: spec.outFeatures,
    weight: w.nf4 ?? w.data,
    bias,
    quantize,
    lora: isLoraTarget(spec, o.lora) ? o.lora : null,
    seed: hashSeed(o.seed, spec.path),
    dequantizePerCall: perCall,
  });
}

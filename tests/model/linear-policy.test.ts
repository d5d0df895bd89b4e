// The rules that turn the weight table's linear layers into layers: NF4 targets, LoRA targets, the
// float-copy budget, and seeds (init and dropout) that come from a layer's name, not build order.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { modelDefaults, parseRunSpec } from "../../common/spec/index.js";
import { LoraLinear } from "../../trainer/qlora/index.js";
import { llavaWeightTable, randomWeights, tinyConfig, type LinearSpec } from "../../trainer/model/index.js";
import { networkOptions } from "../../trainer/model/build-model.js";
import {
  buildLinear,
  FloatCopyBudget,
  quantizeOnLoad,
  type LinearOptions,
} from "../../trainer/model/linear-policy.js";

const ALL_LINEARS = [
  "q_proj",
  "k_proj",
  "v_proj",
  "out_proj",
  "o_proj",
  "fc1",
  "fc2",
  "linear_1",
  "linear_2",
  "gate_proj",
  "up_proj",
  "down_proj",
];
const config = tinyConfig(50, 32);
const table = llavaWeightTable(config);
const nf4 = { type: "nf4" as const, blockSize: 64, doubleQuant: true };

function quantized(
  targetModules: string[],
  o: { trainBase?: boolean; type?: "nf4" | "none" } = {},
): string[] {
  const rule = quantizeOnLoad({
    quantization: { ...nf4, type: o.type ?? "nf4" },
    lora: { targetModules },
    trainBase: o.trainBase,
  })(config);
  return table.tensors.filter((t) => rule(t.name, t.shape) !== null).map((t) => t.name);
}

describe("NF4 quantization targets", () => {
  it("with every linear targeted, exactly the linear weights: no bias, norm, embedding or head", () => {
    const linearWeights = table.tensors.filter((t) => t.linear).map((t) => t.name);
    expect(quantized(ALL_LINEARS)).toEqual(linearWeights);
    expect(
      linearWeights.every((n) => n.endsWith(".weight") && !/norm|embed|classifier|lm_head/.test(n)),
    ).toBe(true);
  });

  it("a target names its layers in every part that has them: q_proj is the tower's and the decoder's", () => {
    expect(quantized(["q_proj"])).toEqual([
      "model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
      "model.vision_tower.vision_model.encoder.layers.1.self_attn.q_proj.weight",
      "model.language_model.layers.0.self_attn.q_proj.weight",
      "model.language_model.layers.1.self_attn.q_proj.weight",
    ]);
  });

  it("nothing when the base trains or quantization is off, and not a tensor of the wrong rank", () => {
    expect(quantized(ALL_LINEARS, { trainBase: true })).toEqual([]);
    expect(quantized(ALL_LINEARS, { type: "none" })).toEqual([]);
    const rule = quantizeOnLoad({ quantization: nf4, lora: { targetModules: ALL_LINEARS } })(config);
    expect(rule("model.language_model.layers.0.mlp.up_proj.weight", [256 * 128])).toBeNull();
    expect(rule("model.language_model.layers.0.mlp.up_proj.weight", [256, 128])).toEqual({
      blockSize: 64,
      doubleQuant: true,
    });
  });
});

describe("float-copy budget", () => {
  it("offers layers in order; each keeps its copy if it still fits, a later smaller one may", () => {
    const budget = new FloatCopyBudget(1); // 1 MiB
    expect(budget.keeps(600 * 1024)).toBe(true);
    expect(budget.keeps(600 * 1024)).toBe(false);
    expect(budget.keeps(300 * 1024)).toBe(true);
    expect(budget.keeps(200 * 1024)).toBe(false);
    expect(new FloatCopyBudget(0).keeps(4)).toBe(false);
  });
});

describe("build options", () => {
  it("a build without cacheDequantizedMiB takes the run spec schema's default; a given one is kept", () => {
    const lora = modelDefaults().lora;
    const head = { pooling: "image_tokens" as const };
    const o = networkOptions({ quantization: nf4, lora, head, seed: 1 });
    expect(o.quantization.cacheDequantizedMiB).toBe(
      parseRunSpec({}).spec.model.quantization.cacheDequantizedMiB,
    );
    expect(
      networkOptions({ quantization: { ...nf4, cacheDequantizedMiB: 3 }, lora, head, seed: 1 }).quantization,
    ).toEqual({ ...nf4, cacheDequantizedMiB: 3 });
  });
});

describe("seeds from names", () => {
  const options: LinearOptions = {
    quantization: { ...nf4, type: "none", cacheDequantizedMiB: 1024 },
    lora: { r: 4, alpha: 8, dropout: 0.5, rslora: false, targetModules: ALL_LINEARS },
    seed: 3,
  };
  // The first vision layer's q/k/v: same shape, so only their names tell them apart.
  const specs: LinearSpec[] = [table.vision.layers[0].q, table.vision.layers[0].k, table.vision.layers[0].v];

  /** Each layer's dropout output on one input, the layers built in the given order. */
  function outputs(order: LinearSpec[]): Map<string, number[]> {
    const weights = randomWeights(config, 1);
    const budget = new FloatCopyBudget(1024);
    const built = order.map((s) => [s, buildLinear(s, weights, options, budget, 0)] as const);
    const x = tf.randomNormal([5, 64], 0, 1, "float32", 2);
    const out = new Map<string, number[]>();
    for (const [s, l] of built) {
      const lora = l as LoraLinear;
      // Non-zero B so the adapter, and so its dropout mask, shows in the output.
      lora.loraB!.assign(tf.ones(lora.loraB!.shape));
      out.set(s.path, Array.from(l.apply(x, { training: true, dropoutSeed: 17 }).dataSync()));
      out.set(`${s.path}.lora_A`, Array.from(lora.loraA!.dataSync()));
      l.dispose();
    }
    x.dispose();
    return out;
  }

  it("adapter init and dropout masks are the same whichever order the layers are built and run in", async () => {
    await tf.setBackend("cpu");
    const forward = outputs(specs);
    const reversed = outputs([...specs].reverse());
    for (const [k, v] of forward) expect(reversed.get(k), k).toEqual(v);
    // ...and two layers of the same shape do not share a mask or an init.
    const [q, k] = specs;
    expect(forward.get(`${q.path}.lora_A`)).not.toEqual(forward.get(`${k.path}.lora_A`));
  });
});

// The network's adapters in Hugging Face PEFT terms: the LoRA matrices under PEFT keys, the
// classifier head as a modules_to_save entry, and adapter_config.json's settings.
import * as tf from "@tensorflow/tfjs";
import { peftKey, peftSavedModuleKey, type AdapterConfig } from "../qlora/index.js";
import type { LoraOptions } from "../../common/spec/index.js";
import type { LlavaNetwork } from "./llava-network.js";

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

const HEAD = "classifier";

/** LoRA matrices under PEFT keys in table order, then the head (PyTorch layout [L, D]). */
export function adapterTensors(network: LlavaNetwork): NamedTensor[] {
  const out: NamedTensor[] = [];
  for (const l of network.loraLayers()) {
    for (const [which, v] of [
      ["lora_A", l.loraA!],
      ["lora_B", l.loraB!],
    ] as const) {
      out.push({
        name: peftKey(l.name, which),
        shape: v.shape.slice(),
        data: Float32Array.from(v.dataSync() as Float32Array),
      });
    }
  }
  const w = tf.tidy(() => tf.transpose(network.head.weight)); // [L, D], PyTorch layout
  out.push({
    name: peftSavedModuleKey(HEAD, "weight"),
    shape: w.shape.slice(),
    data: Float32Array.from(w.dataSync() as Float32Array),
  });
  w.dispose();
  out.push({
    name: peftSavedModuleKey(HEAD, "bias"),
    shape: network.head.bias.shape.slice(),
    data: Float32Array.from(network.head.bias.dataSync() as Float32Array),
  });
  if (network.head.query)
    out.push({
      name: peftSavedModuleKey(HEAD, "query"),
      shape: network.head.query.shape.slice(),
      data: Float32Array.from(network.head.query.dataSync() as Float32Array),
    });
  return out;
}

/** Assigns every adapter tensor; a missing, unknown or mis-shaped one is an error naming it. */
export function loadAdapterTensors(
  network: LlavaNetwork,
  t: Map<string, { shape: number[]; data: Float32Array }>,
): void {
  const targets = new Map<string, tf.Variable>();
  for (const l of network.loraLayers()) {
    targets.set(peftKey(l.name, "lora_A"), l.loraA!);
    targets.set(peftKey(l.name, "lora_B"), l.loraB!);
  }
  const headW = peftSavedModuleKey(HEAD, "weight");
  targets.set(headW, network.head.weight);
  targets.set(peftSavedModuleKey(HEAD, "bias"), network.head.bias);
  if (network.head.query) targets.set(peftSavedModuleKey(HEAD, "query"), network.head.query);
  const missing = [...targets.keys()].filter((k) => !t.has(k));
  const extra = [...t.keys()].filter((k) => !targets.has(k));
  if (missing.length || extra.length) {
    throw new Error(
      `adapter does not match the model's LoRA targets — missing: [${missing.join(", ")}]; unexpected: [${extra.join(", ")}]`,
    );
  }
  for (const [k, v] of targets) {
    const src = t.get(k)!;
    // The head is stored [L, D] (PyTorch) and held [D, L].
    const want = k === headW ? [v.shape[1], v.shape[0]] : v.shape;
    if (src.shape.join("x") !== want.join("x"))
      throw new Error(
        `adapter tensor ${k}: expected shape [${want.join(", ")}], got [${src.shape.join(", ")}]`,
      );
    tf.tidy(() => {
      const x = tf.tensor(src.data, src.shape);
      v.assign(k === headW ? tf.transpose(x) : x);
    });
  }
}

/** The adapter's PEFT settings; the head is saved as a modules_to_save entry. */
export function peftAdapterConfig(lora: LoraOptions, baseModel: string): AdapterConfig {
  return {
    r: lora.r,
    loraAlpha: lora.alpha,
    loraDropout: lora.dropout,
    targetModules: lora.targetModules,
    useRslora: lora.rslora,
    modulesToSave: [HEAD],
    baseModelNameOrPath: baseModel,
    taskType: "CAUSAL_LM",
    bias: "none",
  };
}

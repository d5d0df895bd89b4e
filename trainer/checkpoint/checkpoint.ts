// What a training checkpoint holds and how its parts are encoded:
//   adapter_model.safetensors  LoRA A/B and the classification head, PEFT key names
//   adapter_config.json        PEFT adapter config (the adapter loads in Hugging Face PEFT as is)
//   optimizer.safetensors      AdamW first and second moments, flat, in trainable-parameter order
//   trainer_state.json         step, data cursor, counters and the parameters' sha256
// Random state needs no part of its own: every random draw is a function of (seed, step, rank).
import { decodeSafetensors, encodeSafetensors } from "../qlora/index.js";
import type { AdamWState } from "../optim/index.js";
import type { SamplerState } from "../data/index.js";
import { CheckpointCorruptError, sha256Hex, type StoredPart } from "./store.js";

export interface TrainerState {
  step: number;
  totalSteps: number;
  sampler: SamplerState;
  nonFiniteInARow: number;
  optimizerT: number;
  /** sha256 of the flat trainable parameters, checked after loading the adapter. */
  paramsSha256: string;
  worldSize: number;
  generation: number;
  /** Findings-table thresholds in use (task.findingsTable output/prompt); 0.5 each when absent. */
  findingsThresholds?: number[];
  /**
   * The tensor engine that wrote it, e.g. "tensorflow 2.21.0, 1 thread": kernels give the same bits
   * only on the same engine and thread count, so a resume on another one is continued but logged.
   */
  engine?: string;
}

export interface AdapterTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface CheckpointContents {
  adapter: AdapterTensor[];
  adapterConfig: Record<string, unknown>;
  optimizer: AdamWState;
  state: TrainerState;
}

export const PART_NAMES = [
  "adapter_model.safetensors",
  "adapter_config.json",
  "optimizer.safetensors",
  "trainer_state.json",
] as const;

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");

export function encodeCheckpoint(c: CheckpointContents): Map<string, Uint8Array> {
  return new Map<string, Uint8Array>([
    [
      "adapter_model.safetensors",
      encodeSafetensors(
        c.adapter.map((t) => ({ name: t.name, dtype: "F32" as const, shape: t.shape, data: t.data })),
        { format: "pt" },
      ),
    ],
    ["adapter_config.json", json(c.adapterConfig)],
    [
      "optimizer.safetensors",
      encodeSafetensors(
        [
          { name: "exp_avg", dtype: "F32", shape: [c.optimizer.m.length], data: c.optimizer.m },
          { name: "exp_avg_sq", dtype: "F32", shape: [c.optimizer.v.length], data: c.optimizer.v },
        ],
        { step: String(c.optimizer.t) },
      ),
    ],
    ["trainer_state.json", json(c.state)],
  ]);
}

export interface DecodedCheckpoint {
  adapter: Map<string, { shape: number[]; data: Float32Array }>;
  optimizer: AdamWState;
  state: TrainerState;
}

/** Verifies every part against its recorded size and sha256, then decodes. */
export function decodeCheckpoint(
  ref: { step: number; parts: StoredPart[] },
  bytes: Map<string, Uint8Array>,
): DecodedCheckpoint {
  for (const name of PART_NAMES) {
    const rec = ref.parts.find((p) => p.name === name);
    const data = bytes.get(name);
    if (!rec || !data) throw new CheckpointCorruptError(ref.step, name, "is missing");
    if (data.byteLength !== rec.size)
      throw new CheckpointCorruptError(ref.step, name, `has ${data.byteLength} bytes, expected ${rec.size}`);
    if (sha256Hex(data) !== rec.sha256)
      throw new CheckpointCorruptError(ref.step, name, "fails its sha256 check");
  }
  const adapter = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of decodeSafetensors(bytes.get("adapter_model.safetensors")!).tensors) {
    adapter.set(t.name, { shape: t.shape, data: t.data as Float32Array });
  }
  const opt = decodeSafetensors(bytes.get("optimizer.safetensors")!);
  const m = opt.tensors.find((t) => t.name === "exp_avg")?.data as Float32Array | undefined;
  const v = opt.tensors.find((t) => t.name === "exp_avg_sq")?.data as Float32Array | undefined;
  if (!m || !v)
    throw new CheckpointCorruptError(ref.step, "optimizer.safetensors", "lacks exp_avg or exp_avg_sq");
  const state = JSON.parse(new TextDecoder().decode(bytes.get("trainer_state.json")!)) as TrainerState;
  return { adapter, optimizer: { t: Number(opt.metadata.step), m, v }, state };
}

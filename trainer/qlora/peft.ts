// Hugging Face PEFT adapter files: adapter_config.json and adapter_model.safetensors with PEFT's
// key names, so an adapter trained by radfleet loads with `PeftModel.from_pretrained`.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/fs.js";
import { SafetensorsFile, fromFloat32, writeSafetensors, type DType } from "./safetensors.js";

export interface AdapterConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  targetModules: string[];
  useRslora: boolean;
  modulesToSave: string[];
  baseModelNameOrPath: string;
  taskType: string;
  bias: "none";
}

/** PEFT's saved key for a LoRA matrix of the module at `modulePath`. */
export function peftKey(modulePath: string, which: "lora_A" | "lora_B"): string {
  return `base_model.model.${modulePath}.${which}.weight`;
}

/** PEFT's saved key for a parameter of a fully trained module (modules_to_save), e.g. the classification head's weight. */
export function peftSavedModuleKey(modulePath: string, param: string): string {
  return `base_model.model.${modulePath}.${param}`;
}

export function adapterConfigJson(c: AdapterConfig): Record<string, unknown> {
  return {
    peft_type: "LORA",
    r: c.r,
    lora_alpha: c.loraAlpha,
    lora_dropout: c.loraDropout,
    target_modules: c.targetModules,
    use_rslora: c.useRslora,
    modules_to_save: c.modulesToSave.length ? c.modulesToSave : null,
    base_model_name_or_path: c.baseModelNameOrPath,
    task_type: c.taskType || null,
    bias: c.bias,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
  };
}

export function parseAdapterConfig(raw: Record<string, unknown>, source: string): AdapterConfig {
  if (raw.peft_type !== "LORA")
    throw new Error(`${source}: peft_type: expected LORA, got ${JSON.stringify(raw.peft_type)}`);
  const num = (k: string) => {
    if (typeof raw[k] !== "number")
      throw new Error(`${source}: ${k}: expected a number, got ${JSON.stringify(raw[k])}`);
    return raw[k] as number;
  };
  return {
    r: num("r"),
    loraAlpha: num("lora_alpha"),
    loraDropout: num("lora_dropout"),
    targetModules: Array.isArray(raw.target_modules) ? (raw.target_modules as string[]) : [],
    useRslora: raw.use_rslora === true,
    modulesToSave: Array.isArray(raw.modules_to_save) ? (raw.modules_to_save as string[]) : [],
    baseModelNameOrPath: String(raw.base_model_name_or_path ?? ""),
    taskType: String(raw.task_type ?? ""),
    bias: "none",
  };
}

export async function saveAdapter(
  dir: string,
  cfg: AdapterConfig,
  tensors: Array<{ name: string; dtype?: DType; shape: number[]; data: Float32Array }>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  // The tensors first, the config last: a directory with a config always has its weights.
  await writeSafetensors(
    join(dir, "adapter_model.safetensors"),
    tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype ?? "F32",
      shape: t.shape,
      data: fromFloat32(t.dtype ?? "F32", t.data),
    })),
    { format: "pt" },
  );
  await writeFileAtomic(
    join(dir, "adapter_config.json"),
    new TextEncoder().encode(JSON.stringify(adapterConfigJson(cfg), null, 2) + "\n"),
  );
}

export async function loadAdapter(
  dir: string,
): Promise<{ config: AdapterConfig; tensors: Map<string, { shape: number[]; data: Float32Array }> }> {
  const cfgPath = join(dir, "adapter_config.json");
  const config = parseAdapterConfig(
    JSON.parse(await readFile(cfgPath, "utf8")) as Record<string, unknown>,
    cfgPath,
  );
  const file = await SafetensorsFile.open(join(dir, "adapter_model.safetensors"));
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const k of file.keys())
      tensors.set(k, { shape: file.info(k).shape, data: await file.readFloat32(k) });
    return { config, tensors };
  } finally {
    await file.close();
  }
}

import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ShardedCheckpoint,
  loadAdapter,
  peftKey,
  peftSavedModuleKey,
  saveAdapter,
  writeSafetensors,
} from "../../trainer/qlora/index.js";

async function twoShards(weightMap: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "radfleet-shards-"));
  await writeSafetensors(join(dir, "a.safetensors"), [
    { name: "x", dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) },
  ]);
  await writeSafetensors(join(dir, "b.safetensors"), [
    { name: "y", dtype: "I32", shape: [1], data: Int32Array.from([7]) },
  ]);
  await writeFile(
    join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: { total_size: 12 }, weight_map: weightMap }),
  );
  return dir;
}

describe("sharded checkpoints", () => {
  it("reads tensors across shards through the index", async () => {
    const ck = await ShardedCheckpoint.open(await twoShards({ x: "a.safetensors", y: "b.safetensors" }));
    expect(ck.keys().sort()).toEqual(["x", "y"]);
    expect(ck.shards).toEqual(["a.safetensors", "b.safetensors"]);
    expect(Array.from(await ck.readFloat32("x"))).toEqual([1, 2]);
    expect(ck.info("y")).toMatchObject({ dtype: "I32", shape: [1], byteLength: 4 });
    expect(() => ck.info("z")).toThrow(/no tensor named "z"/);
    await ck.close();
  });

  it("a single model.safetensors works without an index", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-single-"));
    await writeSafetensors(join(dir, "model.safetensors"), [
      { name: "w", dtype: "F32", shape: [1], data: Float32Array.from([3]) },
    ]);
    const ck = await ShardedCheckpoint.open(dir);
    expect(Array.from(await ck.readFloat32("w"))).toEqual([3]);
    await ck.close();
  });

  it("refuses an index that disagrees with its shards or escapes the directory, and an empty directory", async () => {
    await expect(
      ShardedCheckpoint.open(await twoShards({ x: "a.safetensors", y: "a.safetensors" })),
    ).rejects.toThrow(/lists y in this shard, its header does not/);
    await expect(ShardedCheckpoint.open(await twoShards({ x: "../a.safetensors" }))).rejects.toThrow(
      /same directory/,
    );
    await expect(ShardedCheckpoint.open(await mkdtemp(join(tmpdir(), "radfleet-empty-")))).rejects.toThrow(
      /neither model.safetensors nor model.safetensors.index.json/,
    );
  });
});

describe("PEFT adapter files", () => {
  it("writes PEFT's config fields and key names; BF16 tensors round to the nearest bf16", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-peft-"));
    const path = "language_model.model.layers.0.self_attn.q_proj";
    expect(peftKey(path, "lora_A")).toBe(`base_model.model.${path}.lora_A.weight`);
    expect(peftSavedModuleKey("classifier", "weight")).toBe("base_model.model.classifier.weight");
    await saveAdapter(
      dir,
      {
        r: 8,
        loraAlpha: 16,
        loraDropout: 0.05,
        targetModules: ["q_proj", "v_proj"],
        useRslora: true,
        modulesToSave: ["classifier"],
        baseModelNameOrPath: "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        taskType: "CAUSAL_LM",
        bias: "none",
      },
      [
        {
          name: peftKey(path, "lora_A"),
          dtype: "BF16",
          shape: [1, 4],
          data: Float32Array.from([1, 1.00390625, -3.0078125, 1.01171875]),
        },
        { name: peftKey(path, "lora_B"), shape: [2, 1], data: Float32Array.from([0.1, -0.2]) },
      ],
    );
    const cfg = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(cfg).toMatchObject({
      peft_type: "LORA",
      r: 8,
      lora_alpha: 16,
      lora_dropout: 0.05,
      target_modules: ["q_proj", "v_proj"],
      use_rslora: true,
      modules_to_save: ["classifier"],
      bias: "none",
      task_type: "CAUSAL_LM",
      base_model_name_or_path: "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    });
    const back = await loadAdapter(dir);
    expect(back.config).toMatchObject({
      r: 8,
      loraAlpha: 16,
      useRslora: true,
      modulesToSave: ["classifier"],
    });
    // Ties go to the even bf16 mantissa: 1.00390625 → 1, -3.0078125 → -3, 1.01171875 → 1.015625.
    expect(Array.from(back.tensors.get(peftKey(path, "lora_A"))!.data)).toEqual([1, 1, -3, 1.015625]);
    expect(Array.from(back.tensors.get(peftKey(path, "lora_B"))!.data)).toEqual([
      Math.fround(0.1),
      Math.fround(-0.2),
    ]);
  });

  it("refuses a config that is not a LoRA adapter", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-peft-bad-"));
    await writeFile(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "IA3" }));
    await expect(loadAdapter(dir)).rejects.toThrow(/peft_type: expected LORA, got "IA3"/);
  });
});

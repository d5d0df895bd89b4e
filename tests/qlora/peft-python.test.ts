// An adapter written by radfleet, loaded by Hugging Face PEFT (tests/reference/qlora/check_peft_adapter.py):
// PEFT must find every LoRA matrix under its own key names and compute the same outputs as
// radfleet's LoRA layer. Needs the reference Python with torch and peft
// (tests/helpers/reference-python.ts); tests/qlora/peft-roundtrip.test.ts does the same with an
// adapter a real run trained, on the whole model.
import * as tf from "@tensorflow/tfjs";
import { spawnSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasReferencePython, REFERENCE_PYTHON as PYTHON } from "../helpers/reference-python.js";
import {
  LoraLinear,
  peftKey,
  saveAdapter,
  writeSafetensors,
  type TensorData,
} from "../../trainer/qlora/index.js";

const hasPeft = hasReferencePython(["torch", "peft", "safetensors"]);

describe.skipIf(!hasPeft)(`PEFT loads radfleet adapters (python: ${PYTHON})`, () => {
  it("same key names, same scaling, same outputs (plain and rsLoRA)", async () => {
    await tf.setBackend("cpu");
    for (const rslora of [false, true]) {
      const dir = await mkdtemp(join(tmpdir(), "radfleet-peft-py-"));
      const IN = 24;
      const shapes: Record<string, number> = {
        "language_model.model.layers.0.self_attn.q_proj": 16,
        "language_model.model.layers.0.self_attn.v_proj": 8,
        "language_model.model.layers.0.mlp.up_proj": 12, // not targeted: stays a plain linear
      };
      const x = tf.randomNormal([5, IN], 0, 1, "float32", 1);
      const base: TensorData[] = [];
      const io: TensorData[] = [
        { name: "x", dtype: "F32", shape: [5, IN], data: x.dataSync() as Float32Array },
      ];
      const adapter: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
      let seed = 10;
      for (const [path, out] of Object.entries(shapes)) {
        const targeted = !path.endsWith("up_proj");
        const weight = tf.randomNormal([out, IN], 0, 0.2, "float32", seed++).dataSync() as Float32Array;
        const bias = tf.randomNormal([out], 0, 0.1, "float32", seed++).dataSync() as Float32Array;
        const l = new LoraLinear({
          name: path,
          inFeatures: IN,
          outFeatures: out,
          weight,
          bias,
          lora: targeted ? { r: 4, alpha: 8, dropout: 0.1, rslora } : null,
          seed: seed++,
        });
        if (targeted) {
          l.loraB!.assign(tf.randomNormal([out, 4], 0, 0.3, "float32", seed++));
          adapter.push(
            { name: peftKey(path, "lora_A"), shape: [4, IN], data: l.loraA!.dataSync() as Float32Array },
            { name: peftKey(path, "lora_B"), shape: [out, 4], data: l.loraB!.dataSync() as Float32Array },
          );
        }
        base.push(
          { name: `${path}.weight`, dtype: "F32", shape: [out, IN], data: weight },
          { name: `${path}.bias`, dtype: "F32", shape: [out], data: bias },
        );
        io.push({
          name: `y.${path}`,
          dtype: "F32",
          shape: [5, out],
          data: l.apply(x, { training: false }).dataSync() as Float32Array,
        });
        l.dispose();
      }
      await writeSafetensors(join(dir, "base.safetensors"), base);
      await writeSafetensors(join(dir, "io.safetensors"), io);
      await saveAdapter(
        dir,
        {
          r: 4,
          loraAlpha: 8,
          loraDropout: 0.1,
          targetModules: ["q_proj", "v_proj"],
          useRslora: rslora,
          modulesToSave: [],
          baseModelNameOrPath: "radfleet-test",
          taskType: "",
          bias: "none",
        },
        adapter,
      );
      const r = spawnSync(PYTHON, ["tests/reference/qlora/check_peft_adapter.py", dir], {
        encoding: "utf8",
        timeout: 300_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
        peft_keys: string[];
        modules: Record<string, { lora: boolean; scaling: number | null; max_abs_err: number }>;
      };
      expect(res.peft_keys).toEqual(
        [
          "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
          "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.default.weight",
          "base_model.model.language_model.model.layers.0.self_attn.v_proj.lora_A.default.weight",
          "base_model.model.language_model.model.layers.0.self_attn.v_proj.lora_B.default.weight",
        ].sort(),
      );
      const q = res.modules["language_model.model.layers.0.self_attn.q_proj"];
      expect(q.lora).toBe(true);
      expect(q.scaling).toBeCloseTo(rslora ? 8 / 2 : 2, 10);
      expect(res.modules["language_model.model.layers.0.mlp.up_proj"].lora).toBe(false);
      for (const [path, m] of Object.entries(res.modules)) expect(m.max_abs_err, path).toBeLessThan(1e-5);
    }
  }, 600_000); // two Python processes importing torch and peft: minutes on a busy 2-core machine
});

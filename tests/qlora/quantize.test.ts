import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  BNB_STATE_SUFFIX,
  SafetensorsFile,
  ShardedCheckpoint,
  dequantizeNf4,
  fromFloat32,
  loadQuantizedLinear,
  nf4BitsPerParameter,
  pythonFloatRepr,
  quantizeNf4,
  toFloat32,
  writeSafetensors,
} from "../../trainer/qlora/index.js";
import { run } from "../../cli/commands/quantize.js";

let seed = 99;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const randn = (n: number, s: number) =>
  Float32Array.from({ length: n }, () => (rand() + rand() + rand()) * s);

/** A two-shard model directory: a BF16 q_proj [256, 512] (evenly 64·256 blocks), an F32 odd-sized
 *  down_proj, an lm_head, an embedding and a norm that must stay as they are. */
async function makeModelDir(): Promise<{ dir: string; q: Float32Array; down: Float32Array }> {
  const dir = await mkdtemp(join(tmpdir(), "radfleet-quant-in-"));
  // BF16 input: quantize what bitsandbytes would see, the bf16 values widened to float32.
  const q = toFloat32(
    "BF16",
    new Uint8Array((fromFloat32("BF16", randn(256 * 512, 0.02)) as Uint16Array).buffer),
  );
  const down = randn(33 * 65, 0.05);
  await writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), [
    {
      name: "model.layers.0.self_attn.q_proj.weight",
      dtype: "BF16",
      shape: [256, 512],
      data: fromFloat32("BF16", q),
    },
    {
      name: "model.layers.0.input_layernorm.weight",
      dtype: "BF16",
      shape: [512],
      data: fromFloat32("BF16", randn(512, 1)),
    },
    { name: "model.embed_tokens.weight", dtype: "F32", shape: [10, 512], data: randn(5120, 1) },
  ]);
  await writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), [
    { name: "model.layers.0.mlp.down_proj.weight", dtype: "F32", shape: [33, 65], data: down },
    { name: "model.layers.0.mlp.down_proj.bias", dtype: "F32", shape: [33], data: randn(33, 1) },
    { name: "lm_head.weight", dtype: "F32", shape: [10, 512], data: randn(5120, 1) },
  ]);
  const weight_map: Record<string, string> = {
    "model.layers.0.self_attn.q_proj.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.input_layernorm.weight": "model-00001-of-00002.safetensors",
    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.mlp.down_proj.weight": "model-00002-of-00002.safetensors",
    "model.layers.0.mlp.down_proj.bias": "model-00002-of-00002.safetensors",
    "lm_head.weight": "model-00002-of-00002.safetensors",
  };
  await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map }));
  await writeFile(join(dir, "config.json"), JSON.stringify({ model_type: "qwen2", hidden_size: 512 }));
  await writeFile(join(dir, "tokenizer.json"), "{}");
  return { dir, q, down };
}

async function headerBytes(path: string): Promise<number> {
  const b = await readFile(path);
  return 8 + Number(b.readBigUInt64LE(0));
}

describe("radfleet quantize", () => {
  let src: Awaited<ReturnType<typeof makeModelDir>>;
  let out: string;
  let printed = "";

  beforeAll(async () => {
    src = await makeModelDir();
    out = await mkdtemp(join(tmpdir(), "radfleet-quant-out-"));
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      printed += String(chunk);
      return true;
    });
    try {
      expect(await run(["--in", src.dir, "--out", out])).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  afterEach(() => vi.restoreAllMocks());

  it("prints sizes before and after and 4.127 bits per quantized parameter", async () => {
    expect(printed).toMatch(/quantized 2 linear weights \(133,217 parameters\)/);
    expect(printed).toMatch(/size before: [\d,]+ bytes/);
    expect(printed).toMatch(/size after: +[\d,]+ bytes/);
    expect(printed).toMatch(/bits per quantized parameter: 4\.1\d\d .*nominal 4\.127/);
    // The after size is exactly: headers + kept tensors + 4.127 bits per parameter of the evenly
    // blocked q_proj + the odd down_proj's codes and scales + per-tensor tables and packed state.
    const ckpt = await ShardedCheckpoint.open(out);
    const sizeOf = (k: string) => ckpt.info(k).byteLength;
    const kept = [
      "model.layers.0.input_layernorm.weight",
      "model.embed_tokens.weight",
      "model.layers.0.mlp.down_proj.bias",
      "lm_head.weight",
    ]
      .map(sizeOf)
      .reduce((a, b) => a + b);
    const qp = "model.layers.0.self_attn.q_proj.weight";
    const qCodesScales = sizeOf(qp) + sizeOf(`${qp}.absmax`) + sizeOf(`${qp}.nested_absmax`);
    expect((qCodesScales * 8) / (256 * 512)).toBe(nf4BitsPerParameter(64, true));
    expect(nf4BitsPerParameter(64, true).toFixed(3)).toBe("4.127");
    let all = 0;
    for (const k of ckpt.keys()) all += sizeOf(k);
    const headers =
      (await headerBytes(join(out, "model-00001-of-00002.safetensors"))) +
      (await headerBytes(join(out, "model-00002-of-00002.safetensors")));
    await ckpt.close();
    const after = Number(/size after: +([\d,]+)/.exec(printed)![1].replace(/,/g, ""));
    expect(after).toBe(headers + all);
    expect(all - kept - qCodesScales).toBeLessThan(4000); // the down_proj and the tables: small
  });

  it("writes bitsandbytes' keys, shapes, dtypes and packed state, and loads back without quantizing again", async () => {
    const ckpt = await ShardedCheckpoint.open(out);
    try {
      const k = "model.layers.0.self_attn.q_proj.weight";
      expect(ckpt.info(k)).toMatchObject({ dtype: "U8", shape: [65536, 1] });
      expect(ckpt.info(`${k}.absmax`)).toMatchObject({ dtype: "U8", shape: [2048] });
      expect(ckpt.info(`${k}.quant_map`)).toMatchObject({ dtype: "F32", shape: [16] });
      expect(ckpt.info(`${k}.nested_absmax`)).toMatchObject({ dtype: "F32", shape: [8] });
      expect(ckpt.info(`${k}.nested_quant_map`)).toMatchObject({ dtype: "F32", shape: [256] });
      expect(ckpt.shardOf(`${k}.${BNB_STATE_SUFFIX}`)).toBe("model-00001-of-00002.safetensors");
      const expected = quantizeNf4(src.q, [256, 512], { blockSize: 64, doubleQuant: true });
      const state = new TextDecoder().decode(await ckpt.readRaw(`${k}.${BNB_STATE_SUFFIX}`));
      expect(state).toBe(
        `{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [256, 512], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": ${pythonFloatRepr(expected.doubleQuant!.offset)}}`,
      );
      const loaded = (await loadQuantizedLinear(ckpt, "model.layers.0.self_attn.q_proj"))!;
      expect(Buffer.from(loaded.packed).equals(Buffer.from(expected.packed))).toBe(true);
      expect(Array.from(loaded.absmax)).toEqual(Array.from(expected.absmax));
      expect(Array.from(dequantizeNf4(loaded).subarray(0, 512))).toEqual(
        Array.from(dequantizeNf4(expected).subarray(0, 512)),
      );

      const d = (await loadQuantizedLinear(ckpt, "model.layers.0.mlp.down_proj.weight"))!;
      const dExp = quantizeNf4(src.down, [33, 65], { blockSize: 64, doubleQuant: true });
      expect(d.shape).toEqual([33, 65]);
      expect(ckpt.info("model.layers.0.mlp.down_proj.weight").shape).toEqual([Math.ceil((33 * 65) / 2), 1]);
      expect(Array.from(dequantizeNf4(d))).toEqual(Array.from(dequantizeNf4(dExp)));
      expect(await loadQuantizedLinear(ckpt, "lm_head.weight")).toBeNull();
    } finally {
      await ckpt.close();
    }
  });

  it("keeps embeddings, norms, biases and lm_head byte for byte; writes the index, config and other files", async () => {
    const a = await SafetensorsFile.open(join(src.dir, "model-00002-of-00002.safetensors"));
    const b = await SafetensorsFile.open(join(out, "model-00002-of-00002.safetensors"));
    expect(
      Buffer.from(await b.readRaw("lm_head.weight")).equals(Buffer.from(await a.readRaw("lm_head.weight"))),
    ).toBe(true);
    await a.close();
    await b.close();
    const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>;
    };
    expect(index.weight_map["model.layers.0.self_attn.q_proj.weight.nested_absmax"]).toBe(
      "model-00001-of-00002.safetensors",
    );
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as {
      quantization_config: Record<string, unknown>;
    };
    expect(config.quantization_config).toMatchObject({
      quant_method: "bitsandbytes",
      load_in_4bit: true,
      bnb_4bit_quant_type: "nf4",
    });
    expect(await readFile(join(out, "tokenizer.json"), "utf8")).toBe("{}");
  });

  it("refuses an already quantized directory, bad flags and a missing model", async () => {
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const again = await mkdtemp(join(tmpdir(), "radfleet-quant-again-"));
    expect(await run(["--in", out, "--out", again])).toBe(1);
    expect(String(err.mock.calls.at(-1)![0])).toMatch(/already quantized/);
    expect(await run(["--in", src.dir])).toBe(2);
    expect(await run(["--in", src.dir, "--out", again, "--block-size", "48"])).toBe(2);
    expect(await run(["--in", src.dir, "--out", again, "--frobnicate"])).toBe(2);
    expect(await run(["--in", join(src.dir, "nope"), "--out", again])).toBe(1);
    expect(String(err.mock.calls.at(-1)![0])).toMatch(/config\.json/);
  });
});

describe("bitsandbytes state details", () => {
  it("writes floats the way Python's repr does", () => {
    expect([0, 1e-5, 0.0123, 1e16, 123, 1.5e-5, -2.5, 0.0001].map(pythonFloatRepr)).toEqual([
      "0.0",
      "1e-05",
      "0.0123",
      "1e+16",
      "123.0",
      "1.5e-05",
      "-2.5",
      "0.0001",
    ]);
    expect(pythonFloatRepr(Math.fround(0.1))).toBe("0.10000000149011612");
  });

  it("loads a state without double quantization (float absmax)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-bnb-"));
    const x = randn(100, 1);
    const q = quantizeNf4(x, [10, 10], { blockSize: 32 });
    const { nf4ToBnbTensors } = await import("../../trainer/qlora/index.js");
    await writeSafetensors(join(dir, "model.safetensors"), nf4ToBnbTensors("m.weight", q, "float32"));
    const f = await SafetensorsFile.open(join(dir, "model.safetensors"));
    const back = (await loadQuantizedLinear(f, "m"))!;
    expect(back.doubleQuant).toBeUndefined();
    expect(Array.from(dequantizeNf4(back))).toEqual(Array.from(dequantizeNf4(q)));
    await f.close();
  });
});

// A trained radfleet adapter in Hugging Face: `radfleet run` trains LoRA adapters on the shipped tiny
// base (float32, unquantized), then transformers + PEFT load the run's adapter/ as it is onto the
// same base (tests/reference/qlora/check_peft_roundtrip.py) and must compute radfleet's logits for
// the same pixels and prompts within 1e-4, and write the same greedy reports as `radfleet generate`
// token for token for at least 95% of the images. The pixels and prompts are radfleet's own,
// passed over in a safetensors file, so no preprocessing is written twice; the reports are
// compared as the tokens of the text `radfleet generate --json` prints. Where a report differs
// the test prints the first differing token with both sides' logits for the two candidates: a
// near-tie that float rounding tips, or a real disagreement. Needs the reference Python
// (tests/helpers/reference-python.ts).
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HAS_TENSORFLOW } from "../helpers/backends.js";
import { hasReferencePython, REFERENCE_PYTHON } from "../helpers/reference-python.js";
import { radfleet } from "../e2e/helpers.js";
import { loadRunSpecFile, type RunSpec } from "../../common/spec/index.js";
import { loadImage } from "../../trainer/data/index.js";
import { TINY_BASE_DIR, type VisionLanguageModel } from "../../trainer/model/index.js";
import { writeSafetensors } from "../../trainer/qlora/index.js";
import { buildRunModel, ReportGenerator } from "../../trainer/train/index.js";

const IMAGES = 40;
const SCRIPT = join(import.meta.dirname, "../reference/qlora/check_peft_roundtrip.py");
const BACKEND = HAS_TENSORFLOW ? "tensorflow" : "wasm";
const hasPeft = hasReferencePython(["torch", "transformers", "peft", "safetensors"]);

/** check_peft_roundtrip.py's answer for one image. */
interface ImageResult {
  hf: number[];
  radfleet: number[];
  same: boolean;
  /** Where the two differ first: the token's index, its decoding step, each side's token there (null: it ended). */
  first_diff?: number;
  step?: number;
  hf_token?: number | null;
  radfleet_token?: number | null;
  /** transformers' logits there for each side's token (eos for a side that ended). */
  hf_logits?: { of_hf_token: number; of_radfleet_token: number; top2_margin: number };
}

interface Result {
  versions: Record<string, string>;
  adapter: {
    tensors: number;
    loaded: number;
    unused: string[];
    renamed: Record<string, string>;
    not_equal: string[];
    model_lora_without_adapter_tensor: string[];
    scalings: number[];
    expected_scaling: number;
    warnings: string[];
  };
  logits: {
    shape: number[];
    max_abs: number;
    max_abs_diff: number;
    last_position_max_abs_diff: number;
    adapter_effect: number;
  };
  images: ImageResult[];
}

/** A synthetic data set and a short run on the shipped tiny base: float32, plain greedy decoding. */
async function trainRun(root: string): Promise<{ data: string; runDir: string }> {
  const data = join(root, "data");
  const runDir = join(root, "run");
  const synth = await radfleet([
    "data",
    "synth",
    "--out",
    data,
    "--studies",
    "64",
    "--seed",
    "5",
    "--size",
    "64",
  ]).done;
  expect(synth.code, synth.out).toBe(0);
  const spec = join(root, "spec.yaml");
  const lines = [
    `data: { path: ${data}, imageSize: 64, maxReportTokens: 32 }`,
    // LoRA on every attention and MLP projection: the vision tower's q/k/v_proj too, as PEFT's
    // target_modules match leaf names.
    "model: { quantization: { type: none }, lora: { r: 4, alpha: 8, dropout: 0.05 } }",
    "training: { steps: 8, batchSize: 4, learningRate: 0.01, warmupSteps: 1, verifyEvery: 0 }",
    // Plain greedy decoding, as transformers' generate with do_sample=False, num_beams=1.
    "evaluation: { maxSamples: 4, generation: { maxNewTokens: 24, numBeams: 1, repetitionPenalty: 1, noRepeatNgramSize: 0 } }",
    "replicas: { min: 1, max: 1 }",
    "rendezvous: { lastCallSeconds: 0.2, heartbeatIntervalSeconds: 0.5, heartbeatTimeoutSeconds: 5 }",
  ];
  await writeFile(spec, lines.join("\n") + "\n");
  const run = await radfleet(["run", spec, "--run-dir", runDir, "--quiet"]).done;
  expect(run.code, run.out).toBe(0);
  return { data, runDir };
}

async function jpegsUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".jpg"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** `radfleet generate --json`: one report per image, in order. */
async function generateReports(runDir: string, images: string[]): Promise<string[]> {
  const gen = await radfleet(["generate", runDir, ...images, "--json", "--backend", BACKEND]).done;
  expect(gen.code, gen.out).toBe(0);
  const lines = gen.out.split("\n").filter((l) => l.startsWith("{"));
  const reports = lines.map((l) => JSON.parse(l) as { image: string; report: string });
  expect(reports.map((r) => r.image)).toEqual(images);
  return reports.map((r) => r.report);
}

/**
 * What check_peft_roundtrip.py reads: the pixels in the vision tower's normalisation [B, C, H, W]
 * and the prompts radfleet feeds, radfleet's logits on them, the reports' tokens and the decoding
 * limits.
 */
async function writeInputs(
  path: string,
  model: VisionLanguageModel,
  generator: ReportGenerator,
  spec: RunSpec,
  pixels: tf.Tensor4D,
  reports: string[],
): Promise<void> {
  const B = pixels.shape[0];
  const T = generator.prompt.length;
  const inputIds = tf.tensor2d(
    Array.from({ length: B }, () => generator.prompt),
    [B, T],
    "int32",
  );
  const logits = model.forward({ pixels, inputIds }, { training: false }).logits; // [B, T, V]
  const tower = tf.tidy(() => model.network.towerPixels(pixels).transpose([0, 3, 1, 2])); // [B, C, H, W]
  const ids = reports.map((r) => model.tokenizer.encode(r));
  const L = Math.max(1, ...ids.map((x) => x.length));
  const padded = new Int32Array(B * L).fill(-1); // [B, L]
  ids.forEach((x, b) => padded.set(x, b * L));
  const gen = spec.evaluation.generation;
  await writeSafetensors(
    path,
    [
      { name: "pixel_values", dtype: "F32", shape: tower.shape, data: tower.dataSync() },
      { name: "input_ids", dtype: "I32", shape: [B, T], data: inputIds.dataSync() },
      { name: "logits", dtype: "F32", shape: logits.shape, data: logits.dataSync() },
      { name: "radfleet_ids", dtype: "I32", shape: [B, L], data: padded },
    ],
    {
      // As ReportGenerator caps it.
      max_new_tokens: String(Math.min(gen.maxNewTokens, spec.data.maxReportTokens + 1)),
      eos_token_id: String(model.tokenizer.eosId),
      pad_token_id: String(model.tokenizer.padId),
    },
  );
  tf.dispose([inputIds, logits, tower]);
}

/** One line on a report that differs: the first differing token and both sides' logits for the two candidates there. */
function explainDifference(
  model: VisionLanguageModel,
  prompt: number[],
  pixels: tf.Tensor4D,
  b: number,
  r: ImageResult,
): string {
  const tok = model.tokenizer;
  const word = (id: number | null | undefined) =>
    id === null || id === undefined ? "(end)" : `${id} ${JSON.stringify(tok.decode([id]))}`;
  const line = `token ${r.first_diff} (step ${r.step}): transformers ${word(r.hf_token)} vs radfleet ${word(r.radfleet_token)}`;
  if (!r.hf_logits) return `${line} (past max_new_tokens)`;
  const prefix = [...prompt, ...r.hf.slice(0, r.first_diff)];
  const row = tf.tidy(() => {
    const out = model.forward(
      {
        pixels: tf.slice(pixels, [b, 0, 0, 0], [1, -1, -1, -1]),
        inputIds: tf.tensor2d([prefix], [1, prefix.length], "int32"),
      },
      { training: false },
    ).logits; // [1, P, V]
    return out.slice([0, prefix.length - 1, 0], [1, 1, -1]).dataSync() as Float32Array; // [V]
  });
  const l = r.hf_logits;
  return (
    `${line}; transformers' logits ${l.of_hf_token.toFixed(5)} vs ${l.of_radfleet_token.toFixed(5)} (its top-2 margin ` +
    `${l.top2_margin.toExponential(2)}), radfleet's ${row[r.hf_token ?? tok.eosId].toFixed(5)} vs ` +
    `${row[r.radfleet_token ?? tok.eosId].toFixed(5)}`
  );
}

let root: string | undefined;
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe.skipIf(!hasPeft)(`a trained adapter in transformers + PEFT (python: ${REFERENCE_PYTHON})`, () => {
  it("loads with PeftModel.from_pretrained, gives radfleet's logits within 1e-4 and the same greedy reports", async () => {
    root = await mkdtemp(join(tmpdir(), "radfleet-peft-roundtrip-"));
    const { data, runDir } = await trainRun(root);
    const images = (await jpegsUnder(join(data, "files"))).slice(0, IMAGES);
    expect(images).toHaveLength(IMAGES);
    const reports = await generateReports(runDir, images);

    // The same model in process, built as `radfleet generate` builds it, for the pixels and the
    // prompt it feeds and its logits on them.
    expect(await tf.setBackend(BACKEND)).toBe(true);
    const { spec } = await loadRunSpecFile(join(runDir, "spec.yaml"));
    const model = await buildRunModel(spec, []);
    await model.loadAdapter(join(runDir, "adapter"));
    const generator = new ReportGenerator(model, spec);
    const pixels = generator.pixels(
      await Promise.all(images.map((p) => loadImage(p, { size: spec.data.imageSize }))),
    );
    const inputs = join(root, "inputs.safetensors");
    await writeInputs(inputs, model, generator, spec, pixels, reports);

    const py = spawnSync(REFERENCE_PYTHON, [SCRIPT, TINY_BASE_DIR, join(runDir, "adapter"), inputs], {
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(py.status, py.stderr).toBe(0);
    const res = JSON.parse(py.stdout.trim().split("\n").at(-1)!) as Result;

    // Every LoRA matrix lands in its module (PEFT renames the vision tower's keys to transformers
    // 5's layout), unchanged, with radfleet's scaling; the classifier head, radfleet's own
    // modules_to_save entry, has no module in LlavaOnevisionForConditionalGeneration, so PEFT leaves
    // its tensors unused and warns about nothing.
    const a = res.adapter;
    const head = ["base_model.model.classifier.bias", "base_model.model.classifier.weight"];
    expect(
      a.unused.filter((k) => !head.includes(k)),
      "adapter tensors PEFT did not load",
    ).toEqual([]);
    expect(a.loaded).toBe(a.tensors - a.unused.length);
    expect(a.loaded).toBe(model.network.loraLayers().length * 2);
    expect(a.not_equal).toEqual([]);
    expect(a.model_lora_without_adapter_tensor).toEqual([]);
    expect(a.scalings).toEqual([a.expected_scaling]);
    expect(a.warnings).toEqual([]);

    const lg = res.logits;
    const versions = Object.entries(res.versions).map(([k, v]) => `${k} ${v}`);
    console.log(
      `peft round trip (${versions.join(", ")}; radfleet on ${BACKEND}): logits [${lg.shape.join(", ")}], |logit| up to ` +
        `${lg.max_abs.toFixed(1)}: max abs difference ${lg.max_abs_diff.toExponential(2)} (last prompt position ` +
        `${lg.last_position_max_abs_diff.toExponential(2)}); the adapter moves transformers' logits by up to ` +
        `${lg.adapter_effect.toFixed(3)}; ${Object.keys(a.renamed).length} adapter keys renamed by PEFT, e.g. ` +
        `${Object.entries(a.renamed)[0]?.join(" -> ") ?? "none"}`,
    );
    expect(lg.max_abs_diff).toBeLessThan(1e-4);
    expect(lg.adapter_effect).toBeGreaterThan(1e-2); // LoRA changes the outputs: B is not 0

    // Greedy reports, token for token, each difference explained.
    const same = res.images.filter((r) => r.same).length;
    const tokens = res.images.reduce((n, r) => n + r.hf.length, 0);
    const distinct = new Set(reports).size;
    console.log(
      `peft round trip: ${same} of ${IMAGES} greedy reports identical token for token ` +
        `(${(tokens / IMAGES).toFixed(1)} tokens a report on average, ${distinct} distinct reports)`,
    );
    res.images.forEach((r, b) => {
      if (!r.same)
        console.log(`  differs: ${images[b]}: ${explainDifference(model, generator.prompt, pixels, b, r)}`);
    });
    // Reports worth comparing: not empty, not one report for every image.
    expect(tokens / IMAGES).toBeGreaterThan(8);
    expect(distinct).toBeGreaterThan(IMAGES / 2);
    expect(same / IMAGES).toBeGreaterThanOrEqual(0.95);
    pixels.dispose();
    model.dispose();
  }, 600_000); // a run, generate and a Python process importing torch: minutes on a busy 2-core machine
});

// `radfleet quantize --in DIR --out DIR`: a Hugging Face model directory's linear layers to NF4 in
// bitsandbytes' serialized form (trainer/qlora/quantize-model-dir.ts does the work).
import { resolve } from "node:path";
import { intFlag, parseCommandLine, UsageError, usageError } from "../../common/cli.js";
import {
  QUANTIZE_DEFAULT_SKIP as DEFAULT_SKIP,
  quantizeModelDir,
  type QuantizeSummary,
} from "../../trainer/qlora/index.js";

const USAGE = `usage: radfleet quantize --in DIR --out DIR [--block-size 64] [--no-double-quant]
                         [--skip lm_head,embed,norm,classifier,head] [--json]
  Quantizes the 2-D ".weight" tensors of a Hugging Face model directory to NF4 (bitsandbytes layout).
  --skip   comma-separated substrings; a weight whose module path has a segment containing one is
           kept as it is (embeddings, norms, output and classification heads by default)`;

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      in: { type: "string" },
      out: { type: "string" },
      "block-size": { type: "string" },
      "no-double-quant": { type: "boolean", default: false },
      skip: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  if (!values.in || !values.out) return usageError("quantize: --in and --out are required", USAGE);
  let blockSize: number;
  try {
    blockSize = intFlag("block-size", values["block-size"], 64, 32);
    if (blockSize > 4096 || (blockSize & (blockSize - 1)) !== 0)
      throw new UsageError(`--block-size: expected a power of two in 32..4096, got ${blockSize}`);
  } catch (e) {
    return usageError(`quantize: ${(e as Error).message}`, USAGE);
  }
  const skip =
    values.skip === undefined
      ? DEFAULT_SKIP
      : values.skip
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean);
  let s: QuantizeSummary;
  try {
    s = await quantizeModelDir({
      inDir: values.in,
      outDir: values.out,
      blockSize,
      doubleQuant: !values["no-double-quant"],
      skip,
    });
  } catch (err) {
    process.stderr.write(`quantize: ${(err as Error).message}\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return 0;
  }
  const dq = values["no-double-quant"] ? "no double quantization" : "double quantization";
  process.stdout.write(
    [
      `quantized ${s.quantizedTensors} linear weights (${s.quantizedParameters.toLocaleString("en-US")} parameters) to NF4, blocks of ${blockSize}, ${dq}`,
      `kept ${s.keptTensors} tensors as they were (${mib(s.keptBytes)})`,
      `size before: ${s.bytesBefore.toLocaleString("en-US")} bytes (${mib(s.bytesBefore)})`,
      `size after:  ${s.bytesAfter.toLocaleString("en-US")} bytes (${mib(s.bytesAfter)}), ratio ${(s.bytesAfter / Math.max(1, s.bytesBefore)).toFixed(4)}`,
      `bits per quantized parameter: ${s.bitsPerParameter.toFixed(3)} (codes + block scales; nominal ${s.nominalBitsPerParameter.toFixed(3)}), ${s.bitsPerParameterWithTables.toFixed(3)} with per-tensor tables and state`,
      `written to ${resolve(values.out)}`,
    ].join("\n") + "\n",
  );
  return 0;
}

// `radfleet generate RUN_DIR IMAGE...`: reports for images with a finished run's adapter, built as
// the run built its model, with the findings table the run's mode asks for (from the head and the
// thresholds saved with the adapter). This is the inference path; evaluation uses the same code.
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { choiceFlag, intFlag, numFlag, parseCommandLine, usageError, UsageError } from "../../common/cli.js";
import { loadRunSpecFile, type GenerationOptions, type RunSpec } from "../../common/spec/index.js";
import { initBackend, type BackendChoice } from "../../trainer/backend/index.js";
import { loadDataset, loadImage } from "../../trainer/data/index.js";
import {
  defaultThresholds,
  renderTableText,
  THRESHOLDS_FILE,
  thresholdsFromFile,
} from "../../trainer/findings/index.js";
import { ReportGenerator } from "../../trainer/train/index.js";
import { buildRunModel, modelNeedsCorpus } from "../../trainer/train/index.js";

const USAGE = `usage: radfleet generate RUN_DIR IMAGE... [--adapter DIR] [--backend auto|tensorflow|wasm|cpu] [--json]
                         [--max-new-tokens N] [--min-new-tokens N] [--beams N] [--repetition-penalty X]
                         [--no-repeat-ngram-size N] [--length-penalty X]
  RUN_DIR   a run directory (its spec.yaml builds the model; its adapter/ is loaded)
  IMAGE     chest X-ray images (JPEG or PNG)
  --adapter a PEFT adapter directory instead of RUN_DIR/adapter
  --json    one JSON object per image: image, report, headProbs, findingsTable, findingsTableText
  decoding  override the spec's evaluation.generation, as Hugging Face generate's max_new_tokens,
            min_new_tokens, num_beams, repetition_penalty, no_repeat_ngram_size, length_penalty
            (a negative value takes =: --length-penalty=-0.5)`;

type Flags = Record<string, string | boolean | undefined>;

/** The decoding flags given, checked as the run spec checks its evaluation.generation fields. */
function decodingFlags(values: Flags): Partial<GenerationOptions> {
  const raw = (name: string) => values[name] as string | undefined;
  const out: Partial<GenerationOptions> = {
    maxNewTokens: intFlag("max-new-tokens", raw("max-new-tokens"), undefined),
    minNewTokens: intFlag("min-new-tokens", raw("min-new-tokens"), undefined, 0),
    numBeams: intFlag("beams", raw("beams"), undefined),
    repetitionPenalty:
      raw("repetition-penalty") === undefined
        ? undefined
        : numFlag("repetition-penalty", raw("repetition-penalty"), 1, 1),
    noRepeatNgramSize: intFlag("no-repeat-ngram-size", raw("no-repeat-ngram-size"), undefined, 0),
    lengthPenalty:
      raw("length-penalty") === undefined ? undefined : numFlag("length-penalty", raw("length-penalty"), 1),
  };
  if (out.numBeams !== undefined && out.numBeams > 16)
    throw new UsageError(`--beams: expected an integer in [1, 16], got ${out.numBeams}`);
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

async function thresholdsFor(spec: RunSpec, adapterDir: string): Promise<number[]> {
  if (spec.task.findingsTable === "none") return defaultThresholds();
  const path = join(adapterDir, THRESHOLDS_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new Error(
      `${path} is missing: a run with task.findingsTable ${spec.task.findingsTable} saves the tuned thresholds beside its adapter`,
    );
  }
  return thresholdsFromFile(JSON.parse(text), path);
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      adapter: { type: "string" },
      "max-new-tokens": { type: "string" },
      "min-new-tokens": { type: "string" },
      beams: { type: "string" },
      "repetition-penalty": { type: "string" },
      "no-repeat-ngram-size": { type: "string" },
      "length-penalty": { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
    { positionals: true },
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length < 2) return usageError("a run directory and at least one image are required", USAGE);
  const [runDir, ...images] = positionals.map((p) => resolve(p));
  let decoding: Partial<GenerationOptions>, backend: BackendChoice;
  try {
    decoding = decodingFlags(values);
    backend = choiceFlag("backend", values.backend, ["auto", "tensorflow", "wasm", "cpu"] as const, "auto");
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  try {
    const { spec } = await loadRunSpecFile(join(runDir, "spec.yaml"));
    const gen = { ...spec.evaluation.generation, ...decoding };
    if (gen.minNewTokens > gen.maxNewTokens)
      return usageError(
        `--min-new-tokens: expected <= the maximum (${gen.maxNewTokens}, --max-new-tokens or the spec's evaluation.generation.maxNewTokens), got ${gen.minNewTokens}`,
        USAGE,
      );
    spec.evaluation.generation = gen;
    await initBackend(backend);

    // A random tiny model's vocabulary comes from the training reports, so it needs the data set.
    const trainReports = modelNeedsCorpus(spec)
      ? (
          await loadDataset({
            format: spec.data.format,
            root: spec.data.path,
            section: spec.data.section,
            views: spec.data.views,
          })
        ).examples
          .filter((e) => e.split === "train")
          .map((e) => e.report)
      : [];
    const model = await buildRunModel(spec, trainReports);
    const adapterDir = resolve(values.adapter ?? join(runDir, "adapter"));
    await model.loadAdapter(adapterDir);
    const thresholds = await thresholdsFor(spec, adapterDir);
    const generator = new ReportGenerator(model, spec);

    for (let i = 0; i < images.length; i += spec.training.batchSize) {
      const paths = images.slice(i, i + spec.training.batchSize);
      const pixels = await Promise.all(
        paths.map((p) =>
          loadImage(p, { size: spec.data.imageSize }).catch((err: Error) => {
            throw new Error(`${p}: cannot read the image (${err.message})`);
          }),
        ),
      );
      const reports = await generator.generate(pixels, thresholds);
      reports.forEach((r, j) => {
        const tableText = r.findingsTable ? renderTableText(r.findingsTable) : undefined;
        if (values.json) {
          console.log(
            JSON.stringify({
              image: paths[j],
              report: r.report,
              headProbs: r.headProbs,
              ...(r.findingsTable ? { findingsTable: r.findingsTable, findingsTableText: tableText } : {}),
            }),
          );
        } else {
          console.log(`== ${paths[j]}`);
          if (tableText) console.log(`findings table: ${tableText}`);
          console.log(`${r.report}\n`);
        }
      });
    }
    return 0;
  } catch (err) {
    console.error(`radfleet generate: ${(err as Error).message}`);
    return 1;
  }
}

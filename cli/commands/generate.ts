// `radfleet generate RUN_DIR IMAGE...`: reports for images with a finished run's adapter, built as
// the run built its model, with the findings table the run's mode asks for (from the head and the
// thresholds saved with the adapter). This is the inference path; evaluation uses the same code.
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { choiceFlag, intFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { loadRunSpecFile, type RunSpec } from "../../common/spec/index.js";
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

const USAGE = `usage: radfleet generate RUN_DIR IMAGE... [--adapter DIR] [--max-new-tokens N] [--beams N]
                         [--backend auto|tensorflow|wasm|cpu] [--json]
  RUN_DIR   a run directory (its spec.yaml builds the model; its adapter/ is loaded)
  IMAGE     chest X-ray images (JPEG or PNG)
  --adapter a PEFT adapter directory instead of RUN_DIR/adapter
  --json    one JSON object per image: image, report, headProbs, findingsTable, findingsTableText`;

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
      beams: { type: "string" },
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
  let maxNewTokens: number | undefined, beams: number | undefined, backend: BackendChoice;
  try {
    maxNewTokens = intFlag("max-new-tokens", values["max-new-tokens"], undefined);
    beams = intFlag("beams", values.beams, undefined);
    backend = choiceFlag("backend", values.backend, ["auto", "tensorflow", "wasm", "cpu"] as const, "auto");
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }
  try {
    const { spec } = await loadRunSpecFile(join(runDir, "spec.yaml"));
    if (maxNewTokens) spec.evaluation.generation.maxNewTokens = maxNewTokens;
    if (beams) spec.evaluation.generation.numBeams = beams;
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

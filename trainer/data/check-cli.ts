// `radfleet data check DIR [--format mimic-cxr-jpg|iu-xray|synthetic] [--section ...] [--no-verify] [--json]`
import { parseArgs } from "node:util";
import { loadDataset } from "./load-dataset.js";
import { formatSummary, summarize } from "./summary.js";
import { DataError, type DatasetFormat, type LoadOptions } from "./types.js";

const USAGE = `usage: radfleet data check DIR [--format mimic-cxr-jpg|iu-xray|synthetic] [--section findings|impression|both]
                           [--views PA,AP] [--no-verify] [--json]
  Loads a data set, decoding every chosen image, and prints skipped studies by reason,
  studies per split and label prevalence.`;

const FORMATS: DatasetFormat[] = ["mimic-cxr-jpg", "iu-xray", "synthetic"];
const SECTIONS: Array<LoadOptions["section"]> = ["findings", "impression", "both"];

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        format: { type: "string", default: "mimic-cxr-jpg" },
        section: { type: "string", default: "both" },
        views: { type: "string", default: "PA,AP" },
        "no-verify": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const format = values.format as DatasetFormat;
  const section = values.section as LoadOptions["section"];
  if (positionals.length !== 1 || !FORMATS.includes(format) || !SECTIONS.includes(section)) {
    process.stderr.write(
      `${positionals.length !== 1 ? "expected one data directory" : `bad --format "${format}" or --section "${section}"`}\n${USAGE}\n`,
    );
    return 2;
  }
  try {
    const ds = await loadDataset({
      format,
      root: positionals[0],
      section,
      views: values.views.split(",").filter((v) => v.length > 0),
      verifyImages: !values["no-verify"],
    });
    const s = summarize(ds);
    process.stdout.write(values.json ? `${JSON.stringify(s)}\n` : `${formatSummary(s)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof DataError) {
      process.stderr.write(`radfleet data check: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

// `radfleet data check DIR [--format mimic-cxr-jpg|iu-xray|synthetic] [--section ...] [--no-verify] [--json]`
import { choiceFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { loadDataset } from "../../trainer/data/index.js";
import { formatSummary, summarize } from "../../trainer/data/index.js";
import { DataError, type DatasetFormat, type LoadOptions } from "../../trainer/data/index.js";

const USAGE = `usage: radfleet data check DIR [--format mimic-cxr-jpg|iu-xray|synthetic] [--section findings|impression|both]
                           [--views PA,AP] [--no-verify] [--json]
  Loads a data set, decoding every chosen image, and prints skipped studies by reason,
  studies per split and label prevalence.`;

const FORMATS: readonly DatasetFormat[] = ["mimic-cxr-jpg", "iu-xray", "synthetic"];
const SECTIONS: ReadonlyArray<LoadOptions["section"]> = ["findings", "impression", "both"];

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      format: { type: "string" },
      section: { type: "string" },
      views: { type: "string", default: "PA,AP" },
      "no-verify": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    USAGE,
    { positionals: true },
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError("expected one data directory", USAGE);
  let format: DatasetFormat, section: LoadOptions["section"];
  try {
    format = choiceFlag("format", values.format, FORMATS, "mimic-cxr-jpg");
    section = choiceFlag("section", values.section, SECTIONS, "both");
  } catch (e) {
    return usageError((e as Error).message, USAGE);
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

// `radfleet data synth --out DIR --studies N --seed S [--difficulty easy|hard] [--size PX]`
import { choiceFlag, intFlag, parseCommandLine, UsageError, usageError } from "../../common/cli.js";
import { DataError } from "./types.js";
import { synthesize } from "./synth/synthesize.js";
import { writeContactSheet } from "./contact-sheet.js";

const USAGE = `usage: radfleet data synth --out DIR --studies N --seed S [--difficulty easy|hard] [--size PX]
                           [--style default|terse] [--gzip] [--contact-sheet FILE.png] [--json]
  Writes a synthetic chest X-ray data set in the MIMIC-CXR-JPG layout.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      out: { type: "string" },
      studies: { type: "string" },
      seed: { type: "string" },
      difficulty: { type: "string" },
      size: { type: "string" },
      style: { type: "string" },
      gzip: { type: "boolean", default: false },
      "contact-sheet": { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let opts;
  try {
    if (!values.out) throw new UsageError("--out: required (the directory to write the data set into)");
    if (values.studies === undefined) throw new UsageError("--studies: required (how many studies)");
    opts = {
      out: values.out,
      studies: intFlag("studies", values.studies, 0, 1),
      seed: intFlag("seed", values.seed, 0, 0),
      difficulty: choiceFlag("difficulty", values.difficulty, ["easy", "hard"] as const, "easy"),
      imageSize: intFlag("size", values.size, 256, 16),
      reportStyle: choiceFlag("style", values.style, ["default", "terse"] as const, "default"),
      gzip: values.gzip,
    };
  } catch (e) {
    return usageError(`radfleet data synth: ${(e as Error).message}`, USAGE);
  }
  try {
    const res = await synthesize(opts);
    if (values["contact-sheet"])
      await writeContactSheet({ out: values["contact-sheet"], seed: opts.seed + 1 });
    if (values.json) process.stdout.write(`${JSON.stringify({ out: values.out, ...res })}\n`);
    else
      process.stdout.write(`wrote ${res.studies} studies to ${values.out} in ${res.seconds.toFixed(1)} s\n`);
    return 0;
  } catch (e) {
    if (e instanceof DataError) {
      process.stderr.write(`radfleet data synth: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

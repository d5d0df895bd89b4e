// `radfleet data synth --out DIR --studies N --seed S [--difficulty easy|hard] [--size PX]`
import { choiceFlag, intFlag, parseCommandLine, UsageError, usageError } from "../../common/cli.js";
import { CHEXPERT_LABELS, type ChexpertLabel } from "../../common/chexpert.js";
import { DataError } from "../../trainer/data/index.js";
import { synthesize } from "../../trainer/data/index.js";
import { writeContactSheet } from "../../trainer/data/index.js";

const USAGE = `usage: radfleet data synth --out DIR --studies N --seed S [--difficulty easy|hard] [--size PX]
                           [--style default|terse] [--prevalence "Label=P,..."] [--gzip]
                           [--contact-sheet FILE.png] [--json]
  Writes a synthetic chest X-ray data set in the MIMIC-CXR-JPG layout.
  --prevalence  probability that a study has a finding, per CheXpert label (the others keep their
                defaults), e.g. "Cardiomegaly=0.3,Pleural Effusion=0.2"`;

/** "Label=P,Label=P" with CheXpert label names (not No Finding) and probabilities in [0, 1]. */
export function parsePrevalence(raw: string | undefined): Partial<Record<ChexpertLabel, number>> {
  const out: Partial<Record<ChexpertLabel, number>> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(",")) {
    const eq = part.lastIndexOf("=");
    const name = part.slice(0, eq).trim();
    const p = Number(part.slice(eq + 1));
    if (eq < 0 || !(CHEXPERT_LABELS as readonly string[]).includes(name) || name === "No Finding")
      throw new UsageError(
        `--prevalence: ${JSON.stringify(part.trim())}: expected Label=P with a CheXpert label other than No Finding (${CHEXPERT_LABELS.filter((l) => l !== "No Finding").join(", ")})`,
      );
    if (part.slice(eq + 1).trim() === "" || !(p >= 0 && p <= 1))
      throw new UsageError(
        `--prevalence: ${name}: expected a probability in [0, 1], got ${JSON.stringify(part.slice(eq + 1))}`,
      );
    out[name as ChexpertLabel] = p;
  }
  return out;
}

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
      prevalence: { type: "string" },
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
      prevalence: parsePrevalence(values.prevalence),
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

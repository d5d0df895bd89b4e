// `radfleet data synth --out DIR --studies N --seed S [--difficulty easy|hard] [--size PX]`
import { parseArgs } from "node:util";
import { DataError } from "./types.js";
import { synthesize } from "./synth/synthesize.js";
import { writeContactSheet } from "./contact-sheet.js";

const USAGE = `usage: radfleet data synth --out DIR --studies N --seed S [--difficulty easy|hard] [--size PX]
                           [--style default|terse] [--gzip] [--contact-sheet FILE.png] [--json]
  Writes a synthetic chest X-ray data set in the MIMIC-CXR-JPG layout.`;

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min)
    throw new DataError(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`, "bad_argument");
  return n;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string" },
        studies: { type: "string" },
        seed: { type: "string", default: "0" },
        difficulty: { type: "string", default: "easy" },
        size: { type: "string", default: "256" },
        style: { type: "string", default: "default" },
        gzip: { type: "boolean", default: false },
        "contact-sheet": { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (!values.out)
      throw new DataError("--out: required (the directory to write the data set into)", "bad_argument");
    if (values.difficulty !== "easy" && values.difficulty !== "hard")
      throw new DataError(`--difficulty: expected easy or hard, got "${values.difficulty}"`, "bad_argument");
    if (values.style !== "default" && values.style !== "terse")
      throw new DataError(`--style: expected default or terse, got "${values.style}"`, "bad_argument");
    const res = await synthesize({
      out: values.out,
      studies: int("studies", values.studies, 1),
      seed: int("seed", values.seed, 0),
      difficulty: values.difficulty,
      imageSize: int("size", values.size, 16),
      reportStyle: values.style,
      gzip: values.gzip,
    });
    if (values["contact-sheet"])
      await writeContactSheet({ out: values["contact-sheet"], seed: int("seed", values.seed, 0) + 1 });
    if (values.json) process.stdout.write(`${JSON.stringify({ out: values.out, ...res })}\n`);
    else
      process.stdout.write(`wrote ${res.studies} studies to ${values.out} in ${res.seconds.toFixed(1)} s\n`);
    return 0;
  } catch (e) {
    if (e instanceof DataError) {
      process.stderr.write(
        `radfleet data synth: ${e.message}\n${e.code === "bad_argument" ? USAGE + "\n" : ""}`,
      );
      return 2;
    }
    throw e;
  }
}

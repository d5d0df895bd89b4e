import { parseArgs } from "node:util";
import { loadRunSpecFile, resolvedSpecYaml, SpecError } from "../../common/spec/index.js";

export async function run(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { quiet: { type: "boolean", short: "q" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || positionals.length !== 1) {
    console.log(
      "usage: radfleet validate SPEC.yaml [--quiet]\n\nChecks a run spec (or TrainingRun manifest); prints it resolved.",
    );
    return values.help ? 0 : 2;
  }
  try {
    const { name, spec } = await loadRunSpecFile(positionals[0]);
    if (!values.quiet) {
      if (name) console.log(`# TrainingRun ${name}`);
      process.stdout.write(resolvedSpecYaml(spec));
    }
    return 0;
  } catch (err) {
    if (err instanceof SpecError) {
      console.error(`${positionals[0]}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

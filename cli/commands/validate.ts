import { parseCommandLine, usageError } from "../../common/cli.js";
import { loadRunSpecFile, resolvedSpecYaml, SpecError } from "../../common/spec/index.js";

const USAGE = `usage: radfleet validate SPEC.yaml [--quiet]
  Checks a run spec (or TrainingRun manifest); prints it resolved.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, { quiet: { type: "boolean", short: "q", default: false } }, USAGE, {
    positionals: true,
  });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError("expected one spec file", USAGE);
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

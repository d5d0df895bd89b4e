// Command-line parsing shared by every `radfleet` subcommand: node:util's parseArgs (strict) with
// -h/--help added, usage printed on help or a bad flag, and checked numeric flags that name the
// flag they reject. Exit codes: 0 for help, 2 for a usage error.
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type WithHelp<O extends Options> = O & { help: { type: "boolean"; short: "h"; default: false } };

export type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: WithHelp<O>; allowPositionals: true; strict: true }>
>;

/** A mistake in how a command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses argv. Returns the parsed values and positionals, or the exit code when there is nothing
 * left to do: 0 after printing the usage for --help, 2 after printing the error and the usage.
 * Positional arguments are refused unless opts.positionals.
 */
export function parseCommandLine<O extends Options>(
  argv: string[],
  options: O,
  usage: string,
  opts: { positionals?: boolean } = {},
): Parsed<O> | number {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h", default: false } } as WithHelp<O>,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return usageError((e as Error).message, usage);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (!opts.positionals && parsed.positionals.length > 0) {
    return usageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`, usage);
  }
  return parsed;
}

/** Prints a usage error and returns its exit code (2). */
export function usageError(message: string, usage: string): number {
  process.stderr.write(`${message}\n${usage}\n`);
  return 2;
}

/** An integer flag: the default when absent, else an integer >= min, or a UsageError naming it. */
export function intFlag(name: string, raw: string | undefined, dflt: number, min?: number): number;
export function intFlag(
  name: string,
  raw: string | undefined,
  dflt: undefined,
  min?: number,
): number | undefined;
export function intFlag(
  name: string,
  raw: string | undefined,
  dflt: number | undefined,
  min = 1,
): number | undefined {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A number flag: the default when absent, else a finite number >= min, or a UsageError naming it. */
export function numFlag(name: string, raw: string | undefined, dflt: number, min = -Infinity): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new UsageError(
      `--${name}: expected a number${min > -Infinity ? ` >= ${min}` : ""}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

/** One of the allowed values, or a UsageError naming the flag. */
export function choiceFlag<T extends string>(
  name: string,
  raw: string | undefined,
  allowed: readonly T[],
  dflt: T,
): T {
  if (raw === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name}: expected one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

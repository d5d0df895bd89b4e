// The `radfleet` command. Each subcommand lives in its own module and is imported only when used,
// so `radfleet controller` never loads TensorFlow.js and `radfleet eval` never loads gRPC.
import { readFileSync } from "node:fs";

type CommandModule = { run(argv: string[]): Promise<number> };

interface Command {
  summary: string;
  load: () => Promise<CommandModule>;
}

const COMMANDS: Record<string, Command> = {
  validate: {
    summary: "check a run spec and print it with defaults filled in",
    load: () => import("./validate.js"),
  },
  crd: {
    summary: "print the TrainingRun CRD generated from the run spec schema",
    load: () => import("./crd-cli.js"),
  },
};

const GROUPS: Record<string, Record<string, Command>> = {
  bench: {},
  data: {},
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const lines = ["usage: radfleet <command> [options]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(22)} ${c.summary}`);
  for (const [group, cmds] of Object.entries(GROUPS)) {
    for (const [name, c] of Object.entries(cmds))
      lines.push(`  ${`${group} ${name}`.padEnd(22)} ${c.summary}`);
  }
  lines.push("", "Run `radfleet <command> --help` for a command's options.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "version" || name === "--version") {
    console.log(version());
    return 0;
  }
  let command = COMMANDS[name];
  let args = rest;
  if (!command && GROUPS[name]) {
    const [sub, ...subRest] = rest;
    command = sub === undefined ? undefined : GROUPS[name][sub];
    if (!command) {
      console.error(
        `radfleet ${name}: expected one of ${Object.keys(GROUPS[name]).join(", ")}, got ${sub ?? "nothing"}`,
      );
      return 2;
    }
    args = subRest;
  }
  if (!command) {
    console.error(`radfleet: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  try {
    return await mod.run(args);
  } catch (err) {
    // Errors that carry a user-facing message (bad spec, missing file) are printed without a stack.
    const e = err as Error;
    console.error(`radfleet ${name}: ${e.message}`);
    if (process.env.RADFLEET_DEBUG) console.error(e.stack);
    return 1;
  }
}

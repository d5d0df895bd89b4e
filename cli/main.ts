// The `radfleet` command. Each subcommand lives in its own module and is imported only when used,
// so `radfleet controller` never loads TensorFlow.js and `radfleet eval` never loads gRPC.
import { readFileSync } from "node:fs";

type CommandModule = { run(argv: string[]): Promise<number> };

interface Command {
  summary: string;
  load: () => Promise<CommandModule>;
}

const COMMANDS: Record<string, Command> = {
  run: {
    summary: "run a training run locally (the demo without a spec)",
    load: () => import("./commands/run.js"),
  },
  validate: {
    summary: "check a run spec and print it with defaults filled in",
    load: () => import("./commands/validate.js"),
  },
  crd: {
    summary: "print the TrainingRun CRD generated from the run spec schema",
    load: () => import("./commands/crd.js"),
  },
  pretrain: {
    summary: "train the tiny base model (models/tiny-base) on a synthetic corpus",
    load: () => import("./commands/pretrain.js"),
  },
  compare: {
    summary: "compare finished runs side by side",
    load: () => import("./commands/compare.js"),
  },
  study: {
    summary: "run a study (cells of overrides × seeds) and compare its cells with intervals",
    load: () => import("./commands/study.js"),
  },
  generate: {
    summary: "write reports (and findings tables) for images with a finished run's adapter",
    load: () => import("./commands/generate.js"),
  },
  eval: {
    summary: "evaluate generated reports against references",
    load: () => import("./commands/eval.js"),
  },
  label: {
    summary: "label reports with radfleet's CheXpert-style labeler",
    load: () => import("./commands/label.js"),
  },
  quantize: {
    summary: "quantize a Hugging Face model directory's linear layers to NF4 (bitsandbytes format)",
    load: () => import("./commands/quantize.js"),
  },
  coordinator: {
    summary: "a run's coordinator as its own process (launched by the Kubernetes controller)",
    load: () => import("./commands/coordinator.js"),
  },
  controller: {
    summary: "the Kubernetes controller for TrainingRuns",
    load: () => import("./commands/controller.js"),
  },
  doctor: {
    summary: "which tensor backends load here (versions, threads), and how to fix those that do not",
    load: () => import("./commands/doctor.js"),
  },
  trainer: {
    summary: "one training worker (started by launchers)",
    load: () => import("../trainer/main.js"),
  },
};

const GROUPS: Record<string, Record<string, Command>> = {
  bench: {
    train: {
      summary: "training samples/s with 1 and N workers, scaling, step-time split, MFU",
      load: () => import("../bench/train.js"),
    },
    allreduce: {
      summary: "ring all-reduce bandwidth vs raw TCP, like nccl-tests",
      load: () => import("../bench/allreduce.js"),
    },
    rendezvous: {
      summary: "rendezvous and failure-detection latency with N workers",
      load: () => import("../bench/rendezvous.js"),
    },
    labeler: {
      summary: "the labeler against IU X-ray gold labels",
      load: () => import("../bench/labeler.js"),
    },
    model: {
      summary: "tiny model training step time and tokens/s",
      load: () => import("../bench/model.js"),
    },
  },
  data: {
    synth: {
      summary: "generate a synthetic chest X-ray data set (MIMIC-CXR-JPG layout)",
      load: () => import("./commands/data-synth.js"),
    },
    check: {
      summary: "load a data set and report skipped records, splits and prevalence",
      load: () => import("./commands/data-check.js"),
    },
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
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
  // `radfleet compare ... | head`: a reader that goes away is not an error worth a stack trace, and
  // it must not end a command (a run keeps training; its output is in its run directory).
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "version" || name === "--version") {
    console.log(version());
    return 0;
  }
  let command: Command | undefined = COMMANDS[name];
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

// Entry for a controller child process in the cluster tests: `node --import tsx controller-main.ts ...`.
import { run } from "../../../cli/commands/controller.js";

process.exitCode = await run(process.argv.slice(2));

// Running the external tools setup needs (python, pip, the compiler, node-gyp, node itself), and
// the error a step raises when it cannot succeed on this machine: the reason and the one fix.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";

/** Raised for a setup step that cannot succeed on this machine: `reason` and the one `fix`. */
export class SetupError extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(reason);
  }
}

export function runTool(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 2 ** 20, ...options });
}

/** The line of a tool's output that says what went wrong: its error line, else its last line. */
export function failureLine(text: string | null | undefined): string {
  const lines = (text ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^at /.test(l) && !/^Node\.js v\d/.test(l));
  return lines.find((l) => /^(\w*Error|ERROR|error)\b/.test(l)) ?? lines.at(-1) ?? "";
}

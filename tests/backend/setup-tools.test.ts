// Running setup's external tools and reading why they failed (setup-tools.ts): the one line a
// failed pip, compiler or node run is reported by.
import { describe, expect, it } from "vitest";
import { failureLine, runTool } from "../../trainer/backend/setup-tools.js";

describe("failureLine", () => {
  it("prefers the error line over what follows it, skipping stack frames and Node's version banner", () => {
    const node = [
      "file:///x/script.mjs:3",
      "throw new Error('backend is wasm');",
      "",
      "Error: backend is wasm",
      "    at file:///x/script.mjs:3:7",
      "    at ModuleJob.run (node:internal/modules/esm/module_job:1:1)",
      "",
      "Node.js v20.11.0",
    ].join("\n");
    expect(failureLine(node)).toBe("Error: backend is wasm");
    expect(failureLine("Collecting x\nERROR: No matching distribution found for tensorflow==9\n")).toBe(
      "ERROR: No matching distribution found for tensorflow==9",
    );
  });

  it("falls back to the last meaningful line, and to nothing for no output", () => {
    expect(failureLine("make: Entering directory\nbuild stopped\n\n")).toBe("build stopped");
    expect(failureLine("")).toBe("");
    expect(failureLine(null)).toBe("");
    expect(failureLine(undefined)).toBe("");
  });
});

describe("runTool", () => {
  it("runs a command to completion and returns its status and text output", () => {
    const ok = runTool(process.execPath, ["-e", "console.log('out'); console.error('err')"]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe("out\n");
    expect(ok.stderr).toBe("err\n");
    const env = runTool(process.execPath, ["-e", "process.exit(Number(process.env.CODE))"], {
      env: { ...process.env, CODE: "3" },
    });
    expect(env.status).toBe(3);
  });

  it("reports a command that does not exist as an error, not a throw", () => {
    const r = runTool("radfleet-no-such-tool", ["--version"]);
    expect(r.status).toBeNull();
    expect((r.error as NodeJS.ErrnoException).code).toBe("ENOENT");
  });
});

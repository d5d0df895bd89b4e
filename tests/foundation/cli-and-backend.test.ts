import { execFile } from "node:child_process";
import { writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "../../bin/radfleet.js");

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("radfleet CLI", () => {
  it("validate refuses a spec with three mistakes, naming each field, exit 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-cli-"));
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "training:\n  batchSize: 0\n  schedule: sawtooth\nevaluation:\n  maxSamples: many\n",
    );
    const r = await cli(["validate", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("3 errors");
    expect(r.stderr).toContain("spec.training.batchSize: expected an integer >= 1, got 0");
    expect(r.stderr).toContain("spec.training.schedule: expected one of constant, linear, cosine");
    expect(r.stderr).toContain('spec.evaluation.maxSamples: expected an integer >= 1, got "many"');
  });

  it("validate prints the resolved spec of a good one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-cli-"));
    const file = join(dir, "ok.yaml");
    await writeFile(file, "training:\n  steps: 7\n");
    const r = await cli(["validate", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/steps: 7/);
    expect(r.stdout).toMatch(/blockSize: 64/);
  });

  it("unknown commands exit 2 with usage", async () => {
    const r = await cli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });
});

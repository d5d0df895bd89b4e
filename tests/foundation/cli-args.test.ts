// The shared command-line parsing every subcommand uses: help, bad flags and stray arguments give
// usage and exit codes; numeric and choice flags name the flag they reject.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { choiceFlag, intFlag, numFlag, parseCommandLine, UsageError } from "../../common/cli.js";

const USAGE = "usage: radfleet thing --n N";
let out: string[];
let err: string[];

beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

describe("parseCommandLine", () => {
  const opts = { n: { type: "string" }, json: { type: "boolean", default: false } } as const;

  it("returns values and positionals", () => {
    const p = parseCommandLine(["--n", "3", "a"], opts, USAGE, { positionals: true });
    expect(typeof p).toBe("object");
    if (typeof p === "number") return;
    expect(p.values.n).toBe("3");
    expect(p.values.json).toBe(false);
    expect(p.positionals).toEqual(["a"]);
  });

  it("prints usage and returns 0 for --help / -h", () => {
    expect(parseCommandLine(["-h"], opts, USAGE)).toBe(0);
    expect(out).toEqual([`${USAGE}\n`]);
  });

  it("returns 2 with the error and usage for an unknown flag or a stray argument", () => {
    expect(parseCommandLine(["--bogus"], opts, USAGE)).toBe(2);
    expect(err[0]).toMatch(/--bogus[\s\S]*usage: radfleet thing/);
    expect(parseCommandLine(["stray"], opts, USAGE)).toBe(2);
    expect(err[1]).toMatch(/unexpected argument "stray"/);
  });
});

describe("flag values", () => {
  it("checks integers, numbers and choices, naming the flag", () => {
    expect(intFlag("steps", undefined, 300)).toBe(300);
    expect(intFlag("steps", "12", 300)).toBe(12);
    expect(intFlag("seed", "0", 1, 0)).toBe(0);
    expect(() => intFlag("seed", "", 1, 0)).toThrow(/--seed: expected an integer >= 0, got ""/);
    expect(intFlag("beams", undefined, undefined)).toBeUndefined();
    expect(() => intFlag("steps", "1.5", 300)).toThrow(/--steps: expected an integer >= 1, got "1.5"/);
    expect(() => intFlag("steps", "0", 300)).toThrow(UsageError);
    expect(numFlag("lr", "2e-3", 1)).toBe(0.002);
    expect(() => numFlag("lr", "", 1)).toThrow(/--lr: expected a number/);
    expect(() => numFlag("lr", "-1", 1, 0)).toThrow(/--lr: expected a number >= 0, got "-1"/);
    expect(choiceFlag("mode", undefined, ["a", "b"] as const, "a")).toBe("a");
    expect(() => choiceFlag("mode", "c", ["a", "b"] as const, "a")).toThrow(
      /--mode: expected one of a, b, got "c"/,
    );
  });
});

describe("radfleet controller's flags (checked before any cluster is contacted)", () => {
  // Imported here so the spies above catch its usage output.
  const controller = () => import("../../cli/commands/controller.js");

  it("refuses a fractional --workers, a --leader-elect other than true/false, and a stray argument", async () => {
    const { run } = await controller();
    expect(await run(["--workers", "1.5"])).toBe(2);
    expect(err.join("")).toMatch(
      /--workers: expected an integer >= 1, got "1\.5"[\s\S]*usage: radfleet controller/,
    );
    expect(await run(["--leader-elect", "yes"])).toBe(2);
    expect(err.join("")).toMatch(/--leader-elect: expected one of true, false, got "yes"/);
    expect(await run(["extra"])).toBe(2);
    expect(err.join("")).toMatch(/unexpected argument "extra"/);
    expect(await run(["--help"])).toBe(0);
    expect(out.join("")).toMatch(/--terminating-grace SECONDS/);
  });
});

describe("radfleet generate's decoding flags (checked before any model is built)", () => {
  const generate = () => import("../../cli/commands/generate.js");

  it("names a bad decoding flag, and a minimum above the spec's maximum", async () => {
    const { run } = await generate();
    expect(await run(["run", "x.png", "--no-repeat-ngram-size=-1"])).toBe(2);
    expect(err.join("")).toMatch(
      /--no-repeat-ngram-size: expected an integer >= 0, got "-1"[\s\S]*usage: radfleet generate/,
    );
    expect(await run(["run", "x.png", "--length-penalty", "long"])).toBe(2);
    expect(err.join("")).toMatch(/--length-penalty: expected a number, got "long"/);
    expect(await run(["run", "x.png", "--repetition-penalty", "0.5"])).toBe(2);
    expect(err.join("")).toMatch(/--repetition-penalty: expected a number >= 1, got "0\.5"/);
    expect(await run(["run", "x.png", "--beams", "17"])).toBe(2);
    expect(err.join("")).toMatch(/--beams: expected an integer in \[1, 16\], got 17/);

    const dir = await mkdtemp(join(tmpdir(), "radfleet-generate-flags-"));
    try {
      await writeFile(join(dir, "spec.yaml"), "evaluation:\n  generation:\n    maxNewTokens: 8\n");
      expect(await run([dir, "x.png", "--min-new-tokens", "9"])).toBe(2);
      expect(err.join("")).toMatch(
        /--min-new-tokens: expected <= the maximum \(8, --max-new-tokens or the spec's/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

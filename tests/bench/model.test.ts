// The benchmark runs end to end and prints its figures as JSON; it asserts no timing.
import { afterEach, describe, expect, it, vi } from "vitest";
import { run } from "../../bench/model.js";

afterEach(() => vi.restoreAllMocks());

describe("radfleet bench model", () => {
  it("prints step time and tokens per second as JSON", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((s: string) => void lines.push(s));
    const code = await run([
      "--backend",
      "wasm",
      "--image-size",
      "32",
      "--tokens",
      "40",
      "--steps",
      "1",
      "--warmup",
      "0",
      "--json",
    ]);
    expect(code).toBe(0);
    const r = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(r).toMatchObject({
      backend: "wasm",
      batch: 4,
      imageSize: 32,
      tokensPerSequence: 40,
      imageTokens: 17,
    });
    expect(r.stepMsMedian).toBeGreaterThan(0);
    expect(r.trainTokensPerSecond).toBeGreaterThan(0);
  });

  it("refuses a bad flag with usage and exit code 2", async () => {
    const errs: string[] = [];
    vi.spyOn(console, "error").mockImplementation((s: string) => void errs.push(s));
    // Usage errors go straight to the stream (common/cli.ts).
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (errs.push(String(s)), true));
    expect(await run(["--quantization", "int8"])).toBe(2);
    expect(errs.join("\n")).toContain("usage: radfleet bench model");
  });
});

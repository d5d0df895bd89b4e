// The rendezvous benchmark runs end to end at a small size (figures are printed, not asserted).
import { afterEach, describe, expect, it, vi } from "vitest";
import { benchRendezvous, run } from "../../bench/rendezvous.js";

afterEach(() => vi.restoreAllMocks());

describe("radfleet bench rendezvous", () => {
  it("forms a generation, loses one worker and re-forms with the survivors", async () => {
    const r = await benchRendezvous(16, 50);
    console.log(JSON.stringify(r));
    expect(r.workers).toBe(16);
    expect(r.nextGenerationSize).toBe(15);
    expect(r.joinLatencyMs.p50).toBeLessThanOrEqual(r.joinLatencyMs.p99);
    expect(r.killToFirstToldMs).toBeLessThanOrEqual(r.killToAllToldMs);
    expect(r.killToAllToldMs).toBeLessThanOrEqual(r.killToNextGenerationMs);
  });

  it("prints JSON with --json and refuses bad flags with usage", async () => {
    const out: string[] = [];
    vi.spyOn(console, "log").mockImplementation((s: string) => void out.push(s));
    const err: string[] = [];
    vi.spyOn(console, "error").mockImplementation((s: string) => void err.push(s));
    // Usage errors go straight to the stream (common/cli.ts).
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
    expect(await run(["--workers", "4", "--json"])).toBe(0);
    expect(JSON.parse(out[0])).toMatchObject({ workers: 4, nextGenerationSize: 3 });
    expect(await run(["--workers", "one"])).toBe(2);
    expect(await run(["--bogus"])).toBe(2);
    expect(err.join("\n")).toMatch(/usage: radfleet bench rendezvous/);
  });
});

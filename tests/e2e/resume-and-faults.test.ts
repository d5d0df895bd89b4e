// Exact resume across a stop (Ctrl-C) on both checkpoint stores, with the run's state in a real
// NATS server's KV bucket or, without NATS, in the run directory's run-state.json; and non-finite steps skipped on every rank, then failing the run.
import { readFile, writeFile } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/ports.js";
import { progress, radfleet, synthData, workerLogs, writeSpec } from "./helpers.js";

/** Long enough that Ctrl-C after step 5 lands well before the end (a step takes ~0.2 s here). */
const STEPS = 40;

let root: string;
let data: string;
let nats: NatsServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "radfleet-resume-"));
  data = join(root, "data");
  await synthData(data);
  nats = await startNatsServer();
}, 120_000);

afterAll(async () => {
  await nats?.stop();
});

async function adapterBytes(runDir: string): Promise<Buffer> {
  return readFile(join(runDir, "adapter", "adapter_model.safetensors"));
}

for (const [store, withNats] of [
  ["directory", true],
  ["nats", true],
  ["directory", false],
] as const) {
  const where = withNats ? "run state in NATS KV" : "no NATS: run state in the run directory";
  describe(`exact resume with the ${store} checkpoint store (${where})`, () => {
    it("a run stopped mid-way and resumed ends bit-identical to an uninterrupted one", async () => {
      const spec = join(root, `spec-${store}.yaml`);
      const storeLine =
        store === "nats"
          ? `checkpoint: { interval: 100, store: { type: nats, bucket: ckpt-${store} } }`
          : "checkpoint: { interval: 100 }";
      await writeSpec(spec, data, [storeLine], STEPS);
      const natsArgs = withNats ? ["--nats", nats.url] : [];
      const tag = `${store}${withNats ? "" : "-local"}`;
      const cleanDir = join(root, `clean-${tag}`);
      const clean = await radfleet([
        "run",
        spec,
        "--name",
        `clean-${tag}`,
        "--run-dir",
        cleanDir,
        ...natsArgs,
        "--quiet",
      ]).done;
      expect(clean.code, clean.out).toBe(0);

      // Stop after step 5 with Ctrl-C: the workers agree to stop after the same step and commit a
      // final checkpoint there (the interval of 100 never triggers one by itself).
      const dir = join(root, `stopped-${tag}`);
      const name = `resumed-${tag}`;
      const first = radfleet(["run", spec, "--name", name, "--run-dir", dir, ...natsArgs, "--quiet"]);
      await waitFor("step 5", async () => (await progress(dir)).some((x) => x.step >= 5), 200_000, 50);
      process.kill(first.pid, "SIGINT");
      const stopped = await first.done;
      expect(stopped.code, stopped.out).toBe(130);
      const stoppedAt = (await progress(dir)).at(-1)!.step;
      expect(stoppedAt).toBeGreaterThanOrEqual(5);
      expect(stoppedAt).toBeLessThan(STEPS);

      // Same run name (and NATS server, or run directory): the new coordinator resumes the run state
      // and hands the trainers the checkpoint committed at the stop.
      const second = await radfleet(["run", spec, "--name", name, "--run-dir", dir, ...natsArgs, "--quiet"])
        .done;
      expect(second.code, second.out).toBe(0);
      const logs = await workerLogs(dir);
      expect(logs).toMatch(new RegExp(`"event":"checkpoint_restored"[^\\n]*"step":${stoppedAt}`));
      expect((await adapterBytes(dir)).equals(await adapterBytes(cleanDir))).toBe(true);
    }, 400_000);
  });
}

describe("non-finite losses", () => {
  it("a NaN on one rank skips the step on every rank and is counted; too many in a row fail the run", async () => {
    const spec = join(root, "spec-nan.yaml");
    await writeSpec(spec, data, ["checkpoint: { interval: 100 }"], 8);
    // One NaN at step 3: skipped, training continues to the end.
    const okDir = join(root, "nan-once");
    const ok = await radfleet(["run", spec, "--run-dir", okDir, "--quiet"], {
      RADFLEET_INJECT_NONFINITE: "1:3",
    }).done;
    expect(ok.code, ok.out).toBe(0);
    const logs = await workerLogs(okDir);
    // Both ranks see the non-finite reduced gradient and skip step 3 together.
    expect(logs.match(/"event":"nonfinite_step_skipped"[^\n]*"step":3/g)).toHaveLength(2);
    // Each rank names the examples of its batch (batch size 2), so the bad input can be found.
    for (const line of logs.split("\n").filter((l) => l.includes('"event":"nonfinite_step_skipped"'))) {
      const examples = (JSON.parse(line) as { examples: string[] }).examples;
      expect(examples).toHaveLength(2);
      for (const id of examples) expect(id).toMatch(/^s\d+$/);
    }
    expect(logs).not.toMatch(/diverged/);

    // maxNonFiniteSteps is 2: NaN at steps 2 and 3 fails the run with the reason, no restarts.
    const failDir = join(root, "nan-twice");
    const failed = await radfleet(["run", spec, "--run-dir", failDir, "--quiet"], {
      RADFLEET_INJECT_NONFINITE: "0:2,3",
    }).done;
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/failed permanently/);
    expect(await workerLogs(failDir)).toMatch(/2 consecutive steps had a non-finite loss or gradient/);
  }, 300_000);
});

describe("a corrupt checkpoint", () => {
  it("is detected by its checksum; the previous committed one is used and the run still ends exact", async () => {
    const spec = join(root, "spec-corrupt.yaml");
    await writeSpec(spec, data, ["checkpoint: { interval: 4, keep: 3 }"], STEPS);
    const cleanDir = join(root, "clean-corrupt");
    const clean = await radfleet([
      "run",
      spec,
      "--name",
      "clean-corrupt",
      "--run-dir",
      cleanDir,
      "--nats",
      nats.url,
      "--quiet",
    ]).done;
    expect(clean.code, clean.out).toBe(0);

    const dir = join(root, "corrupt");
    const name = "corrupt-run";
    const first = radfleet(["run", spec, "--name", name, "--run-dir", dir, "--nats", nats.url, "--quiet"]);
    await waitFor("step 10", async () => (await progress(dir)).some((x) => x.step >= 10), 200_000, 50);
    process.kill(first.pid, "SIGINT");
    expect((await first.done).code).toBe(130);
    const stoppedAt = (await progress(dir)).at(-1)!.step;
    // Flip bytes in the newest checkpoint's adapter: its sha256 no longer matches the manifest.
    const newest = join(
      dir,
      "checkpoints",
      `step-${String(stoppedAt).padStart(9, "0")}`,
      "adapter_model.safetensors",
    );
    const bytes = await readFile(newest);
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(newest, bytes);

    const second = await radfleet([
      "run",
      spec,
      "--name",
      name,
      "--run-dir",
      dir,
      "--nats",
      nats.url,
      "--quiet",
    ]).done;
    expect(second.code, second.out).toBe(0);
    const logs = await workerLogs(dir);
    expect(logs).toMatch(
      new RegExp(`"event":"checkpoint_unusable"[^\\n]*"step":${stoppedAt}[^\\n]*fails its sha256 check`),
    );
    const restored = [...logs.matchAll(/"event":"checkpoint_restored"[^\n]*"step":(\d+)/g)].map((m) =>
      Number(m[1]),
    );
    expect(restored.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...restored)).toBeLessThan(stoppedAt);
    expect((await adapterBytes(dir)).equals(await adapterBytes(cleanDir))).toBe(true);
  }, 400_000);
});

describe("replica divergence", () => {
  it("a replica whose parameters drift is caught by the checksum exchange and stops the run loudly", async () => {
    const spec = join(root, "spec-diverge.yaml");
    await writeSpec(spec, data, ["checkpoint: { interval: 100 }"], 8); // verifyEvery: 2
    const dir = join(root, "diverged");
    const r = await radfleet(["run", spec, "--run-dir", dir, "--quiet"], {
      RADFLEET_INJECT_DIVERGENCE: "1:2",
    }).done;
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/failed permanently/);
    // Nudged after the update of step index 2 (the third step); the check after step 4 sees it.
    expect(await workerLogs(dir)).toMatch(
      /replicas diverged at step 4: parameter checksums [0-9a-f]{64}, [0-9a-f]{64}/,
    );
  }, 120_000);
});

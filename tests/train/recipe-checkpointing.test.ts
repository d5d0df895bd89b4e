// Checkpointing on a real directory store in a temporary directory, with the recipe's tiny model:
// save and restore round-trip the parameters and the run state, pruning keeps spec.checkpoint.keep,
// restore falls back past unusable checkpoints (and only those), a failed write is abandoned, and
// ranks agree on one resume step. The coordinator side is an in-memory commit log (the
// coordinator is its own part; the e2e runs cover the real commit protocol).
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunSpec } from "../../common/spec/index.js";
import { DirectoryStore } from "../../trainer/checkpoint/directory-store.js";
import {
  CheckpointPartMissingError,
  type CheckpointStore,
  type StoredPart,
} from "../../trainer/checkpoint/store.js";
import type { CheckpointRef } from "../../trainer/train/coordination.js";
import { Checkpointing } from "../../trainer/train/recipe/checkpointing.js";
import { TrainingFailure } from "../../trainer/train/recipe/failure.js";
import { freshRunState, type RunState } from "../../trainer/train/recipe/run-state.js";
import {
  localRanks,
  sampleOf,
  useSynthDataset,
  testSpec,
  tinyRecipe,
  type TinyRecipe,
} from "./recipe-fixture.js";

const data = useSynthDataset();

/** The coordinator's side of the commit, in memory: committed checkpoints newest first. */
class InMemoryCommits {
  committed: CheckpointRef[] = [];
  votes: Array<{ step: number; parts: string[] }> = [];
  abandoned: Array<{ step: number; parts: string[] }> = [];
  async commitCheckpoint(generation: number, step: number, parts: StoredPart[]): Promise<void> {
    this.votes.push({ step, parts: parts.map((p) => p.name) });
    if (parts.length) this.committed.unshift({ step, generation, parts });
  }
  async abandonCheckpoint(_generation: number, step: number, parts: string[]): Promise<void> {
    this.abandoned.push({ step, parts });
  }
  async committedCheckpoints(): Promise<CheckpointRef[]> {
    return [...this.committed];
  }
  ref(step: number): CheckpointRef {
    return this.committed.find((c) => c.step === step)!;
  }
}

let n = 0;
async function setup(spec: RunSpec, commits = new InMemoryCommits(), store?: CheckpointStore) {
  const r = await tinyRecipe(spec);
  const dir = join(data.dir, `ckpt-${n++}`);
  const s = store ?? new DirectoryStore(dir);
  return { r, dir, commits, store: s, ck: checkpointingOf(r, commits, s) };
}

function checkpointingOf(r: TinyRecipe, commits: InMemoryCommits, store: CheckpointStore): Checkpointing {
  return new Checkpointing({
    spec: r.spec,
    coordination: commits,
    store,
    model: r.model.model,
    params: r.model.params,
    initialParams: r.model.initialParams,
    totalSteps: r.model.totalSteps,
    engine: "test engine",
    metrics: r.metrics,
    log: r.log,
  });
}

/** A state as after `step` steps, with the parameters moved away from the initial ones. */
function advanced(r: TinyRecipe, step: number): RunState {
  const state = freshRunState(r.spec.training.seed, r.model.params.size);
  const p = r.model.params.read();
  for (let i = 0; i < p.length; i++) p[i] += 0.001 * step * ((i % 7) - 3);
  r.model.params.write(p);
  state.step = step;
  state.sampler = { seed: r.spec.training.seed, epoch: 1, consumed: 4 * step };
  state.opt.t = step;
  state.opt.m.fill(0.5 * step);
  state.opt.v.fill(0.25 * step);
  state.nonFiniteInARow = 1;
  state.thresholds = state.thresholds.map((_, i) => 0.3 + 0.01 * i);
  return state;
}

const g0 = { generation: 2, rank: 0, worldSize: 1 };

describe("Checkpointing", () => {
  it("rank 0 writes the four parts and commits them; another process restores parameters and state exactly", async () => {
    const spec = testSpec(data.dir);
    const a = await setup(spec);
    const state = advanced(a.r, 3);
    const saved = a.r.model.params.checksum();
    await a.ck.save(g0, state);
    expect((await readdir(join(a.dir, "step-000000003"))).sort()).toEqual([
      "adapter_config.json",
      "adapter_model.safetensors",
      "optimizer.safetensors",
      "trainer_state.json",
    ]);
    expect(a.commits.votes).toEqual([
      { step: 3, parts: expect.arrayContaining(["trainer_state.json"]) as unknown },
    ]);
    expect(
      sampleOf(await a.r.registry.metrics(), "radfleet_checkpoint_last_commit_timestamp_seconds"),
    ).toBeGreaterThan(0);
    expect(a.r.lines.find((l) => l.event === "checkpoint_committed")).toMatchObject({ step: 3 });
    // The staleness alert's inputs: the committed step and the interval, in steps.
    expect(sampleOf(await a.r.registry.metrics(), "radfleet_checkpoint_last_commit_step")).toBe(3);
    expect(sampleOf(await a.r.registry.metrics(), "radfleet_checkpoint_interval_steps")).toBe(
      spec.checkpoint.interval,
    );

    const b = await setup(spec, a.commits, a.store);
    expect(b.r.model.params.checksum()).not.toBe(saved);
    const restored = await b.ck.restore(a.commits.ref(3));
    expect(b.r.model.params.checksum()).toBe(saved);
    expect(restored).toEqual(state);
    expect(b.r.lines.find((l) => l.event === "checkpoint_restored")).toMatchObject({ step: 3 });
    // A replaced process reports the step it restored before it commits anything itself.
    expect(sampleOf(await b.r.registry.metrics(), "radfleet_checkpoint_last_commit_step")).toBe(3);
    expect(b.r.lines.some((l) => l.event === "engine_changed")).toBe(false);
  });

  it("other ranks only vote; nothing committed restores the initial parameters and a fresh state", async () => {
    const { r, ck, commits, dir } = await setup(testSpec(data.dir));
    const state = advanced(r, 2);
    await ck.save({ ...g0, rank: 1 }, state);
    expect(commits.votes).toEqual([{ step: 2, parts: [] }]);
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
    const fresh = await ck.restore(null);
    expect(fresh).toEqual(freshRunState(r.spec.training.seed, r.model.params.size));
    expect(r.model.params.read()).toEqual(r.model.initialParams);
  });

  it("keeps spec.checkpoint.keep, counting the commits the coordinator had before this process", async () => {
    const spec = testSpec(data.dir, { checkpoint: { keep: 2 } });
    const a = await setup(spec);
    for (const step of [2, 4, 6]) await a.ck.save(g0, advanced(a.r, step));
    expect((await readdir(a.dir)).sort()).toEqual(["step-000000004", "step-000000006"]);
    // A restarted process learns of 2, 4 and 6 from the coordinator at its first commit.
    const b = await setup(spec, a.commits, a.store);
    await b.ck.save(g0, advanced(b.r, 8));
    expect((await readdir(a.dir)).sort()).toEqual(["step-000000006", "step-000000008"]);
  });

  it("falls back past a corrupt or missing newest checkpoint; none usable is a TrainingFailure", async () => {
    const spec = testSpec(data.dir);
    const { r, ck, commits, dir } = await setup(spec);
    const state2 = advanced(r, 2);
    await ck.save(g0, state2);
    const at2 = r.model.params.checksum();
    await ck.save(g0, advanced(r, 4));
    const adapter4 = join(dir, "step-000000004", "adapter_model.safetensors");
    const bytes = await readFile(adapter4);
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(adapter4, bytes);
    expect((await ck.restore(commits.ref(4))).step).toBe(2);
    expect(sampleOf(await r.registry.metrics(), "radfleet_checkpoint_last_commit_step")).toBe(2);
    expect(r.model.params.checksum()).toBe(at2);
    expect(r.lines.filter((l) => l.event === "checkpoint_unusable").map((l) => l.step)).toEqual([4]);

    await rm(adapter4);
    expect(await ck.restore(commits.ref(4))).toMatchObject({ step: 2, sampler: state2.sampler });

    const state2File = join(dir, "step-000000002", "trainer_state.json");
    await writeFile(state2File, (await readFile(state2File, "utf8")).replace('"step": 2', '"step": 3'));
    await expect(ck.restore(commits.ref(4))).rejects.toThrow(TrainingFailure);
  });

  it("falls back past a manifest naming a part outside the store, without reading it", async () => {
    const spec = testSpec(data.dir);
    const { r, ck, commits } = await setup(spec);
    await ck.save(g0, advanced(r, 2));
    await ck.save(g0, advanced(r, 4));
    // The coordinator hands out a manifest whose adapter is /dev/zero, recorded as 1 GiB.
    const ref = commits.ref(4);
    ref.parts = ref.parts.map((p) =>
      p.name === "adapter_model.safetensors" ? { ...p, uri: "/dev/zero", size: 1 << 30 } : p,
    );
    expect((await ck.restore(ref)).step).toBe(2);
    const unusable = r.lines.find((l) => l.event === "checkpoint_unusable");
    expect(unusable).toMatchObject({ step: 4, err: { name: "CheckpointPartRefusedError" } });
    expect((unusable!.err as { message: string }).message).toMatch(
      /\/dev\/zero: refused, not inside the store/,
    );
  });

  it("a read failing for another reason than a missing part is not a fallback: it fails", async () => {
    const spec = testSpec(data.dir);
    const a = await setup(spec);
    await a.ck.save(g0, advanced(a.r, 2));
    await a.ck.save(g0, advanced(a.r, 4));
    const unreachable: CheckpointStore = {
      location: a.store.location,
      put: (k, n, d) => a.store.put(k, n, d),
      get: () => Promise.reject(new Error("EIO: store unreachable")),
      remove: (k) => a.store.remove(k),
      close: async () => {},
    };
    const ck = checkpointingOf(a.r, a.commits, unreachable);
    await expect(ck.restore(a.commits.ref(4))).rejects.toThrow("EIO: store unreachable");
  });

  it("a failed write abandons the step, is counted and logged, and training goes on", async () => {
    const spec = testSpec(data.dir);
    const dir = join(data.dir, "ckpt-failing");
    const real = new DirectoryStore(dir);
    let puts = 0;
    const failing: CheckpointStore = {
      location: real.location,
      put: (k, n, d) => (++puts === 2 ? Promise.reject(new Error("ENOSPC: disk full")) : real.put(k, n, d)),
      get: (u) => real.get(u),
      remove: (k) => real.remove(k),
      close: async () => {},
    };
    const { r, ck, commits } = await setup(spec, new InMemoryCommits(), failing);
    const state = advanced(r, 2);
    await ck.save(g0, state);
    expect(commits.committed).toEqual([]);
    expect(commits.abandoned).toEqual([
      {
        step: 2,
        parts: [
          "adapter_model.safetensors",
          "adapter_config.json",
          "optimizer.safetensors",
          "trainer_state.json",
        ],
      },
    ]);
    expect(sampleOf(await r.registry.metrics(), "radfleet_checkpoint_failures_total")).toBe(1);
    expect(r.lines.find((l) => l.event === "checkpoint_failed")).toMatchObject({
      step: 2,
      err: { message: "ENOSPC: disk full" },
    });
  });

  it("ranks agree on the oldest step restored when one of them cannot read the newest", async () => {
    const spec = testSpec(data.dir);
    const a = await setup(spec);
    await a.ck.save(g0, advanced(a.r, 2));
    await a.ck.save(g0, advanced(a.r, 4));
    const newest = a.commits.ref(4);
    // Rank 1 sees the newest checkpoint's parts as gone (a store that lost them).
    const lossy: CheckpointStore = {
      location: a.store.location,
      put: (k, n, d) => a.store.put(k, n, d),
      get: (part) =>
        newest.parts.some((p) => p.uri === part.uri)
          ? Promise.reject(new CheckpointPartMissingError(part.uri))
          : a.store.get(part),
      remove: (k) => a.store.remove(k),
      close: async () => {},
    };
    const r1 = await setup(spec, a.commits, lossy);
    const ranks = await localRanks(2);
    try {
      const states = await Promise.all([
        a.ck.restoreAgreed({ resumeFrom: newest }, ranks.collectives[0], a.r.log),
        r1.ck.restoreAgreed({ resumeFrom: newest }, ranks.collectives[1], r1.r.log),
      ]);
      expect(states.map((s) => s.step)).toEqual([2, 2]);
      expect(a.r.model.params.checksum()).toBe(r1.r.model.params.checksum());
      for (const lines of [a.r.lines, r1.r.lines])
        expect(lines.find((l) => l.event === "checkpoint_restore_disagreed")).toMatchObject({
          restored: [4, 2],
          agreed: 2,
        });
    } finally {
      await ranks.close();
    }
  });
});

// The generation loop with real one-rank collectives on loopback: a generation that ends under
// training is left, counted and replaced by the next one; a TrainingFailure ends the run as failed;
// any other error propagates; every generation's collective is closed. The coordinator side is an
// in-memory queue of rendezvous results (the coordinator is its own part; the e2e runs cover it).
import { afterEach, describe, expect, it } from "vitest";
import { CollectiveError, CollectiveListener, type Collective } from "../../trainer/collective/index.js";
import type { GenerationInfo } from "../../trainer/train/coordination.js";
import { TrainingFailure } from "../../trainer/train/recipe/failure.js";
import { runGenerations, type TrainGeneration } from "../../trainer/train/recipe/generation-loop.js";
import { recordingLogger, sampleOf, testMetrics } from "./recipe-fixture.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** Rendezvous results handed out in order, one rank each; their abort controllers end them. */
async function generations(count: number) {
  const listener = await CollectiveListener.listen("127.0.0.1", 0);
  cleanup.push(() => listener.close());
  const aborts = Array.from({ length: count }, () => new AbortController());
  const infos: GenerationInfo[] = aborts.map((ac, i) => ({
    generation: i + 1,
    rank: 0,
    worldSize: 1,
    peers: [listener.address],
    resumeFrom: i === 0 ? null : { step: 4 * i, generation: i, parts: [] },
    signal: ac.signal,
  }));
  let next = 0;
  const coordination = {
    join: async () => {
      if (next >= infos.length) throw new Error("in-memory coordination: no generation left to join");
      return infos[next++];
    },
  };
  return { listener, aborts, coordination, joined: () => next };
}

function loopOptions(g: Awaited<ReturnType<typeof generations>>, lastStep = 0, maxStalledGenerations = 5) {
  const { log, lines } = recordingLogger();
  const { registry, metrics } = testMetrics();
  const ranks: Array<[number, number]> = [];
  // Stands in for the recipe's ProgressReporter: a test's train function calls step() per step.
  const progress = {
    last: { step: lastStep },
    stepsCompleted: 0,
    step() {
      this.last.step++;
      this.stepsCompleted++;
    },
  };
  return {
    progress,
    lines,
    registry,
    ranks,
    options: {
      spec: {
        collective: { timeoutSeconds: 5, bucketBytes: 1 << 20, compression: "none" as const },
        restartPolicy: { maxStalledGenerations },
      },
      coordination: g.coordination,
      listener: g.listener,
      registry,
      progress,
      metrics,
      log,
      onRank: (rank: number, generation: number) => ranks.push([rank, generation]),
    },
  };
}

async function isClosed(c: Collective): Promise<boolean> {
  return c.barrier().then(
    () => false,
    (err: unknown) => err instanceof CollectiveError && err.code === "ABORTED" && /closed/.test(err.message),
  );
}

describe("runGenerations", () => {
  it("leaves a generation that ends under training, counts it, and trains in the next one", async () => {
    const g = await generations(3);
    const o = loopOptions(g);
    const seen: Collective[] = [];
    const train: TrainGeneration = async (info, collective) => {
      seen.push(collective);
      expect(collective.generation).toBe(info.generation);
      if (info.generation === 1) throw new CollectiveError("PEER_LOST", "rank 1 went away", 1);
      if (info.generation === 2) {
        // The coordinator ended the generation; whatever failed afterwards is part of that ending.
        g.aborts[1].abort("worker lost");
        throw new Error("socket hang up");
      }
      return { status: "done", step: 12 };
    };
    expect(await runGenerations(o.options, train)).toEqual({ status: "done", step: 12 });
    expect(g.joined()).toBe(3);
    expect(o.ranks).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
    ]);
    expect(sampleOf(await o.registry.metrics(), "radfleet_train_generation_restarts_total")).toBe(2);
    expect(o.lines.filter((l) => l.event === "generation_lost").map((l) => l.generation)).toEqual([1, 2]);
    expect(o.lines.filter((l) => l.event === "generation_joined")).toEqual([
      expect.objectContaining({ generation: 1, rank: 0, worldSize: 1, resumeFrom: null }),
      expect.objectContaining({ generation: 2, rank: 0, worldSize: 1, resumeFrom: 4 }),
      expect.objectContaining({ generation: 3, rank: 0, worldSize: 1, resumeFrom: 8 }),
    ]);
    for (const c of seen) expect(await isClosed(c)).toBe(true);
  });

  it("a TrainingFailure ends the run as failed at the last step completed", async () => {
    const g = await generations(1);
    const o = loopOptions(g, 7);
    let seen: Collective | undefined;
    const outcome = await runGenerations(o.options, async (_info, collective) => {
      seen = collective;
      throw new TrainingFailure("replicas diverged at step 8");
    });
    expect(outcome).toEqual({ status: "failed", step: 7, reason: "replicas diverged at step 8" });
    expect(o.lines.find((l) => l.event === "training_failed")).toMatchObject({
      generation: 1,
      err: { message: "replicas diverged at step 8" },
    });
    expect(await isClosed(seen!)).toBe(true);
  });

  it("any other error propagates (the trainer exits and its restart joins again)", async () => {
    const g = await generations(2);
    const o = loopOptions(g);
    let seen: Collective | undefined;
    await expect(
      runGenerations(o.options, async (_info, collective) => {
        seen = collective;
        throw new Error("store unreachable");
      }),
    ).rejects.toThrow("store unreachable");
    expect(g.joined()).toBe(1);
    expect(sampleOf(await o.registry.metrics(), "radfleet_train_generation_restarts_total")).toBe(0);
    expect(await isClosed(seen!)).toBe(true);
  });

  it("fails after maxStalledGenerations generations in a row end before a step completes", async () => {
    const g = await generations(5);
    const o = loopOptions(g, 9, 3);
    const outcome = await runGenerations(o.options, async (info) => {
      throw new CollectiveError(
        "PROTOCOL",
        `rank 1 sent a 12-byte piece where 4 elements were expected (${info.generation})`,
        1,
      );
    });
    expect(outcome).toEqual({
      status: "failed",
      step: 9,
      reason:
        "3 generations in a row ended before a step completed (restartPolicy.maxStalledGenerations 3); the last: PROTOCOL: rank 1 sent a 12-byte piece where 4 elements were expected (3)",
      // this process gives up, not the run: it exits for the launcher to restart (backoffLimit)
      retryable: true,
    });
    expect(g.joined()).toBe(3);
    expect(o.lines.filter((l) => l.event === "generation_lost").map((l) => l.stalled)).toEqual([1, 2, 3]);
    expect(o.lines.find((l) => l.event === "training_failed")).toMatchObject({ generation: 3 });
  });

  it("a generation that completes a step resets the count; 0 means no limit", async () => {
    // Limit 2: lost, lost after a step (reset), lost, lost after a step, then done: never 2 in a row.
    const g = await generations(5);
    const o = loopOptions(g, 0, 2);
    const outcome = await runGenerations(o.options, async (info) => {
      if (info.generation === 2 || info.generation === 4) o.progress.step();
      if (info.generation < 5) throw new CollectiveError("PEER_LOST", "rank 1 went away", 1);
      return { status: "done", step: 2 };
    });
    expect(outcome).toEqual({ status: "done", step: 2 });
    expect(o.lines.filter((l) => l.event === "generation_lost").map((l) => l.stalled)).toEqual([1, 0, 1, 0]);

    const unlimited = await generations(4);
    const u = loopOptions(unlimited, 0, 0);
    const end = await runGenerations(u.options, async (info) => {
      if (info.generation < 4) throw new CollectiveError("TIMEOUT", "no data from rank 1 in 5 s", 1);
      return { status: "done", step: 0 };
    });
    expect(end).toEqual({ status: "done", step: 0 });
    expect(unlimited.joined()).toBe(4);
  });
});

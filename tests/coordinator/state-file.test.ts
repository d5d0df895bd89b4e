// The run state in a file (runs without NATS): a coordinator restarted on the same file resumes the
// committed checkpoints and generation numbers; writes are atomic; a foreign or corrupt file is
// ignored with a warning rather than trusted.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../common/log.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { mergeRunStates, type PersistedRunState } from "../../controller/coordinator/persisted-state.js";
import { RunStateFile } from "../../controller/coordinator/state-file.js";
import type { CoordinatorClient } from "../../common/coordinator-client/index.js";
import { closeAll, connectWorkers, ids, TOKEN } from "./workers.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
let clients: CoordinatorClient[] = [];
let coord: Awaited<ReturnType<typeof startCoordinator>> | null = null;

afterEach(async () => {
  await closeAll(clients);
  clients = [];
  await coord?.close();
  coord = null;
});

async function start(runId: string, stateFile: string) {
  coord = await startCoordinator({
    runId,
    token: TOKEN,
    minWorkers: 1,
    maxWorkers: 1,
    lastCallMs: 0,
    address: "127.0.0.1:0",
    logger: silentLogger,
    stateFile,
  });
  clients = await connectWorkers(coord.address, runId, ids(1));
  return coord;
}

describe("run state file", () => {
  it("a restarted coordinator resumes the committed checkpoint and the generation count from it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-state-"));
    const file = join(dir, "run-state.json");
    await start("local", file);
    const g = await clients[0].join();
    await clients[0].reportCheckpointPart(7, { name: "adapter", uri: "/ck/7/a", size: 1, sha256: sha("a") });
    await clients[0].commitCheckpoint(7, ["adapter"]);
    await closeAll(clients);
    clients = [];
    await coord!.close(); // flushes the file
    coord = null;
    const saved = JSON.parse(await readFile(file, "utf8")) as PersistedRunState;
    expect(saved.checkpoints.map((c) => c.step)).toEqual([7]);
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    await start("local", file);
    const again = await clients[0].join();
    expect(again.generation).toBeGreaterThan(g.generation);
    expect(again.resumeFrom?.step).toBe(7);
    expect(again.resumeFrom?.parts[0]).toMatchObject({ name: "adapter", uri: "/ck/7/a" });
  });

  it("a commit is acknowledged only once the file holds it; one whose state cannot be saved is refused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-state-"));
    const file = join(dir, "run-state.json");
    await start("local", file);
    await clients[0].join();
    await clients[0].reportCheckpointPart(7, { name: "adapter", uri: "/ck/7/a", size: 1, sha256: sha("a") });
    await clients[0].commitCheckpoint(7, ["adapter"]);
    // No flush, no close: the acknowledgement itself means the state is on disk.
    const saved = JSON.parse(await readFile(file, "utf8")) as PersistedRunState;
    expect(saved.checkpoints.map((c) => c.step)).toEqual([7]);

    // The directory is gone: the state cannot be written, so the commit is not acknowledged.
    await rm(dir, { recursive: true });
    await clients[0].reportCheckpointPart(8, { name: "adapter", uri: "/ck/8/a", size: 1, sha256: sha("b") });
    const refused = await clients[0].commitCheckpoint(8, ["adapter"]).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(
      /checkpoint at step 8: its parts are stored but the run state could not be saved \(ENOENT.*not acknowledged/,
    );
  });

  it("ignores, with a warning, a file of another run or one that is not JSON", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-state-"));
    const lines: string[] = [];
    const log = createLogger({ sink: { write: (l) => void lines.push(l) } });
    const f = new RunStateFile(join(dir, "s.json"), log);
    expect(await f.load("r")).toBeNull(); // absent: a fresh run
    await writeFile(f.path, "{ not json");
    expect(await f.load("r")).toBeNull();
    await writeFile(
      f.path,
      JSON.stringify({ runId: "other", generation: 3, restartCount: 0, checkpoints: [] }),
    );
    expect(await f.load("r")).toBeNull();
    expect(lines.filter((l) => l.includes("run_state_file_ignored"))).toHaveLength(2);
  });

  it("merges two saved states: higher counters, checkpoints of both by step, newest kept", () => {
    const ck = (step: number) => ({ step, generation: 1, parts: [], committedAtUnixMs: step });
    const a: PersistedRunState = {
      runId: "r",
      generation: 4,
      restartCount: 1,
      checkpoints: [ck(10), ck(20)],
    };
    const b: PersistedRunState = {
      runId: "r",
      generation: 2,
      restartCount: 3,
      checkpoints: [ck(20), ck(30)],
    };
    expect(mergeRunStates(a, b, 2)).toEqual({
      runId: "r",
      generation: 4,
      restartCount: 3,
      checkpoints: [ck(20), ck(30)],
    });
    expect(mergeRunStates(null, b, 2)).toBe(b);
  });
});

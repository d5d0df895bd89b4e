// The two-phase checkpoint commit of one generation (controller/coordinator/checkpoint-commit.ts):
// a manifest is committed only once every member voted and every declared part is durable; a
// missing part abandons the step for good.
import { describe, expect, it } from "vitest";
import type { CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import { silentLogger } from "../../common/log.js";
import { CheckpointCommit } from "../../controller/coordinator/checkpoint-commit.js";
import { CoordinatorError } from "../../controller/coordinator/errors.js";
import { isPending } from "../helpers/promises.js";

const sha = (c: string) => c.repeat(64);
const part = (name: string, c = "a") => ({ name, uri: `/ck/${name}`, size: 10, sha256: sha(c) });

function commit(memberCount: number, latest?: number) {
  const committed: { c: CommittedCheckpoint; startedAtMs: number }[] = [];
  let clock = 100;
  const cc = new CheckpointCommit({
    generation: 7,
    memberCount,
    latestCommittedStep: () => latest,
    onCommitted: (c, startedAtMs) => void committed.push({ c, startedAtMs }),
    log: silentLogger,
    now: () => clock++,
  });
  return { cc, committed };
}

describe("CheckpointCommit", () => {
  it("commits once every member voted with every declared part durable; parts sorted by name", async () => {
    const { cc, committed } = commit(2);
    cc.reportPart("w1", 10, part("rank1.opt"));
    cc.reportPart("w0", 10, part("adapter"));
    const v0 = cc.vote("w0", 10, ["adapter"]);
    expect(await isPending(v0)).toBe(true);
    expect(committed).toHaveLength(0);
    const v1 = cc.vote("w1", 10, ["rank1.opt"]);
    const manifest = {
      step: 10,
      generation: 7,
      parts: [part("adapter"), part("rank1.opt")],
      committedAtUnixMs: 101,
    };
    expect(await v0).toEqual(manifest);
    expect(await v1).toBe(await v0);
    expect(committed).toEqual([{ c: manifest, startedAtMs: 100 }]);
  });

  it("answers the voters only once the commit is durable, and refuses them when it cannot be", async () => {
    let durable!: () => void;
    let lost!: (e: Error) => void;
    const outcomes = [new Promise<void>((r) => (durable = r)), new Promise<void>((_, j) => (lost = j))];
    let calls = 0;
    const cc = new CheckpointCommit({
      generation: 7,
      memberCount: 1,
      latestCommittedStep: () => undefined,
      onCommitted: () => outcomes[calls++],
      log: silentLogger,
    });
    cc.reportPart("w0", 10, part("adapter"));
    const v = cc.vote("w0", 10, ["adapter"]);
    expect(await isPending(v)).toBe(true);
    durable();
    expect(await v).toMatchObject({ step: 10 });

    cc.reportPart("w0", 11, part("adapter"));
    const w = cc.vote("w0", 11, ["adapter"]);
    lost(new Error("ENOSPC: no space left on device"));
    await expect(w).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(
        /step 11: .* could not be saved \(ENOSPC: no space left on device\); not acknowledged/,
      ),
    });
  });

  it("a vote declaring a part never reported abandons the step and fails the other voters", async () => {
    const { cc, committed } = commit(3);
    cc.reportPart("w0", 20, part("adapter"));
    const v0 = cc.vote("w0", 20, ["adapter"]);
    expect(() => cc.vote("w1", 20, ["rank1.opt"])).toThrow(
      expect.objectContaining({
        code: "failed-precondition",
        message: expect.stringMatching(/worker w1 declared parts that were never reported: rank1.opt/),
      }),
    );
    await expect(v0).rejects.toMatchObject({ code: "aborted" });
    // The step is closed for good: neither a late part nor a vote can revive it.
    expect(() => cc.reportPart("w1", 20, part("rank1.opt"))).toThrow(
      expect.objectContaining({ code: "aborted", message: expect.stringMatching(/was abandoned/) }),
    );
    expect(() => cc.vote("w2", 20, [])).toThrow(expect.objectContaining({ code: "aborted" }));
    expect(committed).toHaveLength(0);
  });

  it("refuses a step at or before the newest committed one", () => {
    const { cc } = commit(1, 30);
    expect(() => cc.reportPart("w0", 30, part("adapter"))).toThrow(
      expect.objectContaining({
        code: "failed-precondition",
        message: expect.stringMatching(/step 30 is already committed; checkpoints must move forward/),
      }),
    );
    expect(() => cc.vote("w0", 29, [])).toThrow(expect.objectContaining({ code: "failed-precondition" }));
  });

  it("refuses a malformed part, naming the step and worker", () => {
    const { cc } = commit(1);
    for (const bad of [
      null,
      { ...part("a"), name: "" },
      { ...part("a"), uri: "" },
      { ...part("a"), size: -1 },
      { ...part("a"), size: 1.5 },
      { ...part("a"), sha256: "A".repeat(64) },
      { ...part("a"), sha256: "abc" },
    ]) {
      expect(() => cc.reportPart("w0", 5, bad)).toThrow(
        expect.objectContaining({
          code: "invalid-argument",
          message: expect.stringMatching(/^checkpoint part at step 5 from w0: expected name, uri, size >= 0/),
        }),
      );
    }
  });

  it("a shared part name reported by two workers with different contents is refused", () => {
    const { cc } = commit(2);
    cc.reportPart("w0", 5, part("adapter", "a"));
    cc.reportPart("w0", 5, part("adapter", "b")); // the same worker may rewrite its own part
    cc.reportPart("w1", 5, part("adapter", "b")); // identical contents from another rank: fine
    expect(() => cc.reportPart("w0", 5, part("adapter", "c"))).toThrow(
      expect.objectContaining({
        code: "invalid-argument",
        message: expect.stringMatching(/already reported by w1/),
      }),
    );
  });

  it("failAll (the generation ended) fails the waiting votes and commits nothing", async () => {
    const { cc, committed } = commit(2);
    cc.reportPart("w0", 5, part("adapter"));
    const v0 = cc.vote("w0", 5, ["adapter"]);
    cc.failAll(new CoordinatorError("aborted", "generation 7 ended"));
    await expect(v0).rejects.toMatchObject({ code: "aborted", message: "generation 7 ended" });
    expect(committed).toHaveLength(0);
  });
});

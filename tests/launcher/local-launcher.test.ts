import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import { LocalLauncher, type LauncherEvent } from "../../controller/launcher/local.js";

async function launcher(script: string, workers: number, backoffLimit: number, events: LauncherEvent[]) {
  const logDir = await mkdtemp(join(tmpdir(), "radfleet-launch-"));
  const l = new LocalLauncher({
    workers,
    commandFor: (id) => ({
      command: process.execPath,
      args: ["-e", script],
      env: { WORKER_ID: id, STATE_DIR: logDir },
    }),
    logDir,
    backoffLimit,
    initialBackoffMs: 20,
    maxBackoffMs: 200,
    graceMs: 2000,
    log: silentLogger,
    onEvent: (e) => events.push(e),
  });
  return { l, logDir };
}

describe("local launcher", () => {
  it("runs every worker to a clean exit and captures their output", async () => {
    const events: LauncherEvent[] = [];
    const { l, logDir } = await launcher('console.log("hello from " + process.env.WORKER_ID)', 2, 0, events);
    await l.start();
    const r = await l.done;
    expect(r).toEqual({ ok: true, restarts: 0, reason: undefined });
    expect(await readFile(join(logDir, "worker-1.log"), "utf8")).toContain("hello from worker-1");
  });

  it("restarts a failing worker with growing back-off under the same id, then succeeds", async () => {
    // Fails on its first two attempts (counted through a file), exits 0 on the third.
    const script = `const fs=require("fs"),p=process.env.STATE_DIR+"/n";const n=fs.existsSync(p)?+fs.readFileSync(p,"utf8"):0;fs.writeFileSync(p,String(n+1));process.exit(n<2?3:0)`;
    const events: LauncherEvent[] = [];
    const { l } = await launcher(script, 1, 5, events);
    await l.start();
    const r = await l.done;
    expect(r.ok).toBe(true);
    expect(r.restarts).toBe(2);
    const restarts = events.filter((e) => e.type === "restarting");
    expect(restarts.map((e) => e.type === "restarting" && e.inMs)).toEqual([20, 40]);
    expect(new Set(events.map((e) => e.workerId))).toEqual(new Set(["worker-0"]));
  });

  it("fails the launch with the reason once the back-off limit is exhausted, stopping the others", async () => {
    const script = `if (process.env.WORKER_ID === "worker-0") process.exit(7); setInterval(() => {}, 1000);`;
    const events: LauncherEvent[] = [];
    const { l } = await launcher(script, 2, 1, events);
    await l.start();
    const r = await l.done;
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/worker worker-0 failed \(exit code 7\) and the restart limit \(1\) is reached/);
    const last = events.filter((e) => e.type === "exited" && e.workerId === "worker-1").pop();
    expect(last && last.type === "exited" && last.signal).toBe("SIGTERM");
  });

  it("stops workers through the AbortSignal", async () => {
    const events: LauncherEvent[] = [];
    const { l } = await launcher("setInterval(() => {}, 1000)", 2, 3, events);
    const ac = new AbortController();
    await l.start(ac.signal);
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    const r = await l.done;
    expect(r).toMatchObject({ ok: false, reason: "stopped", restarts: 0 });
  });
});

describe("local launcher: stopping a worker that ignores SIGTERM (busy in a long evaluation)", () => {
  it("waits out the grace period; killNow (a second Ctrl-C) ends it at once", async () => {
    const events: LauncherEvent[] = [];
    // The child says when its handler is in place: a fixed wait raced a slow start on a busy machine.
    const script = `process.on("SIGTERM", () => {}); require("fs").writeFileSync(process.env.STATE_DIR + "/ready", ""); setInterval(() => {}, 1000);`;
    const { l, logDir } = await launcher(script, 1, 0, events);
    await l.start();
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(logDir, "ready"))) {
      if (Date.now() > deadline) throw new Error("the worker never installed its SIGTERM handler");
      await new Promise((r) => setTimeout(r, 20));
    }
    void l.stop("stopped");
    await new Promise((r) => setTimeout(r, 500));
    // Told to stop, it still runs: the grace period (2 s here) has not passed.
    expect(events.some((e) => e.type === "exited")).toBe(false);
    l.killNow();
    const r = await l.done;
    expect(r).toMatchObject({ ok: false, reason: "stopped" });
    const exit = events.find((e) => e.type === "exited");
    expect(exit && exit.type === "exited" && exit.signal).toBe("SIGKILL");
  });
});

describe("local launcher permanent failures", () => {
  it("does not restart a worker that exits with the permanent-failure code", async () => {
    const logDir = await mkdtemp(join(tmpdir(), "radfleet-launch-"));
    const events: LauncherEvent[] = [];
    const l = new LocalLauncher({
      workers: 1,
      commandFor: () => ({ command: process.execPath, args: ["-e", "process.exit(3)"], env: {} }),
      logDir,
      backoffLimit: 5,
      initialBackoffMs: 10,
      maxBackoffMs: 10,
      permanentFailureCode: 3,
      log: silentLogger,
      onEvent: (e) => events.push(e),
    });
    await l.start();
    const r = await l.done;
    expect(r.ok).toBe(false);
    expect(r.restarts).toBe(0);
    expect(r.reason).toMatch(/failed permanently \(exit code 3\)/);
  });
});

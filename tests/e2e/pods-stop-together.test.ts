// The processes a TrainingRun's pods run — `radfleet coordinator` and `radfleet trainer`, started
// exactly as desired-pods.ts starts them — stopped together, as a suspend (or a node drain)
// stops every pod of the run at once. The trainers finish their step and commit a final checkpoint
// through the coordinator, which keeps serving until they have left; the run state is in the state
// file (no NATS); started again, the run resumes from that checkpoint and finishes. A worker id
// that is not one of the run's pods is refused.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, test } from "vitest";
import { trainerEnv } from "../../common/trainer-env.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { synthData, writeSpec } from "./helpers.js";

const BIN = path.join(import.meta.dirname, "../../bin/radfleet.js");
const TOKEN = "pods-token";
const RUN = "pods";
const children: ChildProcess[] = [];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Proc {
  child: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
}

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exit, output: () => out };
}

test("stopped together, the pods commit a final checkpoint; started again, the run resumes from it", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "radfleet-pods-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await synthData(path.join(dir, "data"));
  const specPath = path.join(dir, "spec.yaml");
  await writeSpec(
    specPath,
    path.join(dir, "data"),
    [`checkpoint: { interval: 4, store: { type: directory, path: ${path.join(dir, "checkpoints")} } }`],
    400,
  );
  const stateFile = path.join(dir, "checkpoints", "run-state.json");
  const port = await freePort();

  const coordinator = (): Proc =>
    start(
      [
        "coordinator",
        "--run",
        RUN,
        "--spec",
        specPath,
        "--port",
        String(port),
        "--metrics-port",
        "0",
        "--worker-id-prefix",
        `${RUN}-worker-`,
        "--drain-seconds",
        "60",
        "--state-file",
        stateFile,
      ],
      { RADFLEET_TOKEN: TOKEN },
    );
  const trainer = (workerId: string): Proc =>
    start(
      ["trainer"],
      trainerEnv({
        runId: RUN,
        workerId,
        coordinator: `127.0.0.1:${port}`,
        token: TOKEN,
        specPath,
        runDir: path.join(dir, "run"),
        metricsPort: 0,
        advertiseHost: "127.0.0.1",
      }),
    );
  const committed = async (): Promise<number[]> => {
    try {
      const s = JSON.parse(await readFile(stateFile, "utf8")) as { checkpoints: { step: number }[] };
      return s.checkpoints.map((c) => c.step);
    } catch {
      return [];
    }
  };

  // First "attempt": coordinator and two trainer pods; an outsider is refused.
  let coord = coordinator();
  await waitFor("the coordinator", async () => coord.output().includes('"coordinator_serving"'), 30_000);
  let trainers = [trainer(`${RUN}-worker-0`), trainer(`${RUN}-worker-1`)];
  const outsider = trainer("someone-else");
  expect(await outsider.exit).toBe(1);
  expect(outsider.output()).toMatch(/PERMISSION_DENIED/);

  await waitFor("a first committed checkpoint", async () => (await committed()).length > 0, 120_000, 200);

  // Suspend: every pod gets SIGTERM at the same moment.
  for (const p of [coord, ...trainers]) p.child.kill("SIGTERM");
  const trainerCodes = await Promise.all(trainers.map((t) => t.exit));
  expect(trainerCodes, trainers.map((t) => t.output()).join("\n")).toEqual([0, 0]);
  const stoppedAt = trainers.map((t) => {
    const m = /"event":"stopped"[^\n]*"step":(\d+)/.exec(t.output());
    expect(m, t.output()).not.toBeNull();
    return Number(m![1]);
  });
  expect(stoppedAt[0]).toBe(stoppedAt[1]);
  // The coordinator served until the trainers had left, and the last commit is the stop's.
  expect(await coord.exit).toBe(143);
  expect(coord.output()).toMatch(/"event":"drained"/);
  const steps = await committed();
  expect(Math.max(...steps)).toBe(stoppedAt[0]);

  // Resume: new pods (same worker ids), the same state file; lower total steps so it ends soon.
  await writeSpec(
    specPath,
    path.join(dir, "data"),
    [`checkpoint: { interval: 4, store: { type: directory, path: ${path.join(dir, "checkpoints")} } }`],
    stoppedAt[0] + 3,
  );
  coord = coordinator();
  await waitFor(
    "the coordinator again",
    async () => coord.output().includes('"coordinator_serving"'),
    30_000,
  );
  trainers = [trainer(`${RUN}-worker-0`), trainer(`${RUN}-worker-1`)];
  expect(await Promise.all(trainers.map((t) => t.exit))).toEqual([0, 0]);
  expect(await coord.exit).toBe(0);
  for (const t of trainers)
    expect(t.output()).toMatch(
      new RegExp(`"event":"generation_joined"[^\\n]*"resumeFrom":${stoppedAt[0]}\\b`),
    );
}, 280_000);

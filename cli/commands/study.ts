// `radfleet study STUDY.yaml`: the experiment runner. Expands a study (a base spec, cells of
// overrides, seeds) into runs, runs each with `radfleet run` on this machine, one at a time, and
// compares the cells (trainer/study). The study directory holds everything:
//   specs/<cell>-seed-<s>.yaml   runs/<cell>/seed-<s>/ (run directories)   results.md  results.json
// Run the same command again to resume: finished runs are skipped, an interrupted run resumes from
// its last checkpoint, and a run directory made from another spec is refused, not overwritten.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { choiceFlag, intFlag, parseCommandLine, usageError } from "../../common/cli.js";
import { writeFileAtomic } from "../../common/fs.js";
import { resolvedSpecYaml, type RunSpec } from "../../common/spec/index.js";
import {
  alignRuns,
  loadRunResults,
  loadStudyFile,
  renderStudyMarkdown,
  StudyError,
  studyResults,
  studyStatistics,
  type StudyPlan,
  type StudyRun,
} from "../../trainer/study/index.js";

const BIN = fileURLToPath(new URL("../../bin/radfleet.js", import.meta.url));

const USAGE = `usage: radfleet study STUDY.yaml [options]

Runs every (cell, seed) of a study on this machine, one run at a time, then compares the cells:
the mean over seeds of each metric with a 95% interval that resamples both seeds and reports, and
each cell's difference from the baseline with a Holm-adjusted p-value. Run the same command again
to resume a stopped study: finished runs are skipped, an interrupted one resumes from its checkpoint.

options:
  --study-dir DIR   runs, specs and results (default: studies/<metadata.name>)
  --backend B       auto | tensorflow | wasm | cpu for every run (recorded in each run's spec)
  --plan            list the runs and exit
  --report          only compare the finished runs (all must be finished)
  --resamples N     bootstrap replicates (default 1000)
  --json            print results.json instead of the Markdown table`;

const DONE_FILE = "study-run.json";

function manifest(run: StudyRun): string {
  // A TrainingRun manifest, so the same file also works with kubectl apply.
  return (
    `# radfleet study run: cell ${run.cell}, seed ${run.seed} (written by radfleet study)\n` +
    YAML.stringify({
      apiVersion: "radfleet.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: run.name },
      spec: run.spec,
    })
  );
}

/** Refuses run directories made from another spec: a study never mixes runs of two definitions. */
async function checkRunDirs(studyDir: string, plan: StudyPlan): Promise<string | undefined> {
  for (const run of plan.runs) {
    const specPath = join(studyDir, run.dir, "spec.yaml");
    if (!existsSync(specPath)) continue;
    if ((await readFile(specPath, "utf8")) !== resolvedSpecYaml(run.spec))
      return (
        `${join(studyDir, run.dir)} was made from another spec than the study now gives for cell ${run.cell}, seed ${run.seed}.\n` +
        `Use another --study-dir for the changed study, or delete that run directory to rerun it.`
      );
  }
  return undefined;
}

const minutes = (ms: number) =>
  `${Math.floor(ms / 60000)}m${String(Math.round((ms % 60000) / 1000)).padStart(2, "0")}s`;

async function headline(runDir: string): Promise<string> {
  try {
    const r = JSON.parse(await readFile(join(runDir, "eval", "final", "report.json"), "utf8")) as {
      audit: { fullyAccurate: { value: number } };
      clinical: { micro14: { f1: number } };
      head?: { macroAuroc?: number | null };
    };
    const auroc = r.head?.macroAuroc;
    return (
      `fully accurate ${(100 * r.audit.fullyAccurate.value).toFixed(1)}%, clinical F1 ${r.clinical.micro14.f1.toFixed(3)}` +
      (auroc != null ? `, head AUROC ${auroc.toFixed(3)}` : "")
    );
  } catch {
    return "no final evaluation found";
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      "study-dir": { type: "string" },
      backend: { type: "string" },
      plan: { type: "boolean", default: false },
      report: { type: "boolean", default: false },
      resamples: { type: "string" },
      json: { type: "boolean", default: false },
    },
    USAGE,
    { positionals: true },
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError("expected one study file", USAGE);
  let resamples: number;
  let backend: RunSpec["backend"] | undefined;
  try {
    resamples = intFlag("resamples", values.resamples, 1000);
    backend =
      values.backend === undefined
        ? undefined
        : choiceFlag("backend", values.backend, ["auto", "tensorflow", "wasm", "cpu"] as const, "auto");
  } catch (e) {
    return usageError((e as Error).message, USAGE);
  }

  let plan: StudyPlan;
  try {
    plan = await loadStudyFile(positionals[0]);
  } catch (err) {
    console.error(`radfleet study: ${(err as Error).message}`);
    return err instanceof StudyError ? 2 : 1;
  }
  if (backend) for (const r of plan.runs) r.spec.backend = backend;
  const studyDir = resolve(values["study-dir"] ?? join("studies", plan.name));
  const total = plan.runs.length;

  if (values.plan) {
    console.log(
      `study ${plan.name}: ${plan.cells.length} cells × ${plan.seeds.length} seeds = ${total} runs in ${studyDir}`,
    );
    for (const r of plan.runs) {
      const state = existsSync(join(studyDir, r.dir, DONE_FILE)) ? "finished" : "to run";
      console.log(`  ${r.dir}  (${state})`);
    }
    return 0;
  }

  const refused = await checkRunDirs(studyDir, plan);
  if (refused) {
    console.error(`radfleet study: ${refused}`);
    return 2;
  }

  if (!values.report) {
    await mkdir(join(studyDir, "specs"), { recursive: true });
    let stopRequests = 0;
    let child: ReturnType<typeof spawn> | undefined;
    const onSignal = () => {
      stopRequests++;
      if (child?.pid) {
        // One signal per request: the run finishes its step and checkpoints; a second one kills its workers.
        try {
          process.kill(child.pid, "SIGINT");
        } catch {
          // already gone
        }
      }
      if (stopRequests === 1)
        console.log(
          "stopping: the current run checkpoints and exits (Ctrl-C again: at once); run the same command to resume",
        );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      for (const [i, r] of plan.runs.entries()) {
        const tag = `[${i + 1}/${total}] ${r.cell}, seed ${r.seed}`;
        const runDir = join(studyDir, r.dir);
        if (existsSync(join(runDir, DONE_FILE))) {
          console.log(`${tag}: finished before, skipped`);
          continue;
        }
        if (stopRequests) {
          console.log(`study ${plan.name} stopped before ${r.dir}; resume with the same command.`);
          return 130;
        }
        const specFile = join(studyDir, "specs", `${r.cell}-seed-${r.seed}.yaml`);
        await writeFile(specFile, manifest(r));
        await mkdir(runDir, { recursive: true });
        const resuming = existsSync(join(runDir, "run-state.json"));
        console.log(`${tag}: ${resuming ? "resuming" : "running"} in ${runDir}`);
        const started = Date.now();
        const logPath = join(runDir, "study-run.log");
        const out = openSync(logPath, "a");
        const code = await new Promise<number>((done) => {
          // Its own process group: a Ctrl-C at the terminal reaches the study only, which passes it on once.
          child = spawn(
            process.execPath,
            [BIN, "run", specFile, "--run-dir", runDir, "--name", r.name, "--quiet"],
            { stdio: ["ignore", out, out], detached: true },
          );
          child.once("error", () => done(1));
          child.once("exit", (c, signal) => done(c ?? (signal === "SIGINT" ? 130 : 1)));
        });
        child = undefined;
        closeSync(out);
        if (code === 130 || stopRequests) {
          const finished = plan.runs.filter((x) => existsSync(join(studyDir, x.dir, DONE_FILE))).length;
          console.log(
            `study ${plan.name} stopped: ${finished} of ${total} runs finished; ${r.dir} resumes from its last checkpoint.\n` +
              `Resume with the same command.`,
          );
          return 130;
        }
        if (code !== 0) {
          const tail = (await readFile(logPath, "utf8").catch(() => ""))
            .trim()
            .split("\n")
            .slice(-8)
            .join("\n");
          console.error(`${tag}: radfleet run exited with ${code}; its output is in ${logPath}:\n${tail}`);
          return 1;
        }
        const seconds = (Date.now() - started) / 1000;
        await writeFileAtomic(
          join(runDir, DONE_FILE),
          Buffer.from(
            JSON.stringify(
              { cell: r.cell, seed: r.seed, finishedAt: new Date().toISOString(), seconds },
              null,
              2,
            ) + "\n",
          ),
        );
        console.log(`${tag}: done in ${minutes(seconds * 1000)}: ${await headline(runDir)}`);
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }

  const missing = plan.runs.filter((r) => !existsSync(join(studyDir, r.dir, DONE_FILE)));
  if (missing.length) {
    console.error(
      `radfleet study: ${missing.length} of ${total} runs are not finished (${missing.map((r) => r.dir).join(", ")}); run without --report to finish them`,
    );
    return 1;
  }
  const results = alignRuns(await Promise.all(plan.runs.map((r) => loadRunResults(join(studyDir, r.dir)))));
  const byDir = new Map(plan.runs.map((r, i) => [r.dir, results[i]]));
  const stats = studyStatistics(
    plan.cells.map((c) => ({
      cell: c.id,
      runs: plan.runs.filter((r) => r.cell === c.id).map((r) => byDir.get(r.dir)!),
    })),
    plan.baseline,
    { resamples },
  );
  // Run directories relative to the study directory, so the results read the same wherever it is.
  for (const c of stats.cells) c.runs = c.runs.map((d) => d.slice(studyDir.length + 1));
  const out = studyResults(plan, stats, `radfleet study ${argv.join(" ")}`);
  const md = renderStudyMarkdown(out);
  await writeFileAtomic(join(studyDir, "results.json"), Buffer.from(JSON.stringify(out, null, 2) + "\n"));
  await writeFileAtomic(join(studyDir, "results.md"), Buffer.from(md));
  console.log(values.json ? JSON.stringify(out, null, 2) : `\n${md}`);
  console.log(`results: ${join(studyDir, "results.md")} and results.json`);
  return 0;
}

// A study file: a base run spec, overrides for every run, a small set of cells (named override
// sets, or the cartesian product of a grid) and a list of training seeds. Expanded here into one
// validated run spec per (cell, seed), so a mistake in any cell is found before the first run starts.
//
//   apiVersion: radfleet.io/v1alpha1
//   kind: Study
//   metadata: { name: thesis-hard }
//   spec:
//     base: ../demo.yaml               # a run spec or TrainingRun manifest, relative to this file
//     set: { data.synthetic.difficulty: hard }       # every run
//     cells:                           # named cells ...
//       single-task: { task.clsWeight: 0 }
//       multitask: { task.clsWeight: 0.5 }
//     grid:                            # ... or a grid (not both)
//       task.clsWeight: [0, 0.5]
//     seeds: [1, 2, 3]                 # training.seed of each cell's runs
//     baseline: single-task            # the cell the others are compared with (default: the first)
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import YAML from "yaml";
import { parseRunSpec, SpecError, type RunSpec, type SpecIssue } from "../../common/spec/index.js";

export interface StudyCell {
  /** a directory-safe name: the key under cells, or built from the grid's values */
  id: string;
  /** dotted spec paths and their values, as written in the study file */
  overrides: Record<string, unknown>;
}

export interface StudyRun {
  cell: string;
  seed: number;
  /** the run's spec with every default filled in */
  spec: RunSpec;
  /** run directory relative to the study directory: runs/<cell>/seed-<seed> */
  dir: string;
  /** run name (a DNS label): <study>-<cell>-s<seed>, shortened when too long */
  name: string;
}

export interface StudyPlan {
  name: string;
  /** the base spec's path as the study file names it, for the report */
  base: string;
  set: Record<string, unknown>;
  cells: StudyCell[];
  seeds: number[];
  baseline: string;
  runs: StudyRun[];
}

// Run names start with it, and a run's name must start with a letter (common/spec runNameIssue).
const NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const CELL_ID = /^[A-Za-z0-9][A-Za-z0-9._=-]*$/;

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Sets a dotted path in a plain object, making the mappings on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const p of parts.slice(0, -1)) {
    const next = node[p];
    if (next === undefined || next === null) node[p] = {};
    else if (!isMapping(next)) throw new Error(`${path}: ${p} is not a mapping in the base spec`);
    node = node[p] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function gridCellId(assignment: Array<[string, unknown]>): string {
  return assignment
    .map(
      ([path, value]) =>
        `${path.split(".").at(-1)}-${typeof value === "string" ? value : JSON.stringify(value)}`,
    )
    .join("_")
    .replace(/[^A-Za-z0-9._=-]/g, "-");
}

function runName(study: string, cell: string, seed: number): string {
  const tail = `-s${seed}`;
  const raw = `${study}-${cell}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-");
  return (raw.slice(0, 63 - tail.length).replace(/-+$/, "") + tail).replace(/^-+/, "");
}

/** Checks an overrides mapping: dotted paths to scalar or list values; training.seed is the study's. */
function checkOverrides(value: unknown, path: string, issues: SpecIssue[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) {
    issues.push({ path, message: "expected a mapping of dotted spec paths to values" });
    return {};
  }
  for (const key of Object.keys(value)) {
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(key))
      issues.push({ path: `${path}.${key}`, message: "expected a dotted spec path such as task.clsWeight" });
    if (key === "training.seed")
      issues.push({
        path: `${path}.${key}`,
        message: "the seeds come from spec.seeds; do not set training.seed",
      });
  }
  return value;
}

/**
 * Expands a parsed study document against its base spec document. Every (cell, seed) spec is
 * validated; the errors name the study field or the cell and the spec field.
 */
export function planStudy(doc: unknown, baseDoc: unknown, basePath = "base"): StudyPlan {
  const issues: SpecIssue[] = [];
  if (!isMapping(doc)) throw new SpecError([{ path: "study", message: "expected a mapping (a Study)" }]);
  if (doc.kind !== undefined && doc.kind !== "Study")
    issues.push({ path: "kind", message: `expected Study, got ${JSON.stringify(doc.kind)}` });
  if (doc.apiVersion !== undefined && doc.apiVersion !== "radfleet.io/v1alpha1")
    issues.push({
      path: "apiVersion",
      message: `expected radfleet.io/v1alpha1, got ${JSON.stringify(doc.apiVersion)}`,
    });
  const meta = isMapping(doc.metadata) ? doc.metadata : {};
  const name = meta.name ?? "study";
  if (typeof name !== "string" || !NAME.test(name) || name.length > 40)
    issues.push({
      path: "metadata.name",
      message: `expected a DNS label of at most 40 characters, got ${JSON.stringify(name)}`,
    });
  const spec = isMapping(doc.spec) ? doc.spec : {};
  if (!isMapping(doc.spec)) issues.push({ path: "spec", message: "expected a mapping" });
  const known = new Set(["base", "set", "cells", "grid", "seeds", "baseline"]);
  for (const k of Object.keys(spec))
    if (!known.has(k))
      issues.push({ path: `spec.${k}`, message: `unknown field (expected one of ${[...known].join(", ")})` });

  const set = checkOverrides(spec.set, "spec.set", issues);

  const cells: StudyCell[] = [];
  if (spec.cells !== undefined && spec.grid !== undefined)
    issues.push({ path: "spec.grid", message: "give cells or grid, not both" });
  if (spec.cells !== undefined) {
    if (!isMapping(spec.cells) || Object.keys(spec.cells).length === 0)
      issues.push({ path: "spec.cells", message: "expected a mapping of cell names to overrides" });
    else
      for (const [id, o] of Object.entries(spec.cells)) {
        if (!CELL_ID.test(id) || id.length > 60)
          issues.push({
            path: `spec.cells.${id}`,
            message: "expected a name of letters, digits, '.', '_', '=' or '-'",
          });
        cells.push({ id, overrides: checkOverrides(o, `spec.cells.${id}`, issues) });
      }
  } else if (spec.grid !== undefined) {
    const grid = checkOverrides(spec.grid, "spec.grid", issues);
    let product: Array<Array<[string, unknown]>> = [[]];
    for (const [path, values] of Object.entries(grid)) {
      if (!Array.isArray(values) || values.length === 0) {
        issues.push({ path: `spec.grid.${path}`, message: "expected a non-empty list of values" });
        continue;
      }
      product = product.flatMap((a) => values.map((v) => [...a, [path, v] as [string, unknown]]));
    }
    for (const a of product)
      if (a.length) cells.push({ id: gridCellId(a), overrides: Object.fromEntries(a) });
    if (cells.length > 64) issues.push({ path: "spec.grid", message: `${cells.length} cells; at most 64` });
  } else {
    issues.push({ path: "spec.cells", message: "expected cells or grid" });
  }
  if (new Set(cells.map((c) => c.id)).size !== cells.length)
    issues.push({ path: "spec.cells", message: "two cells have the same name" });

  const seeds = spec.seeds ?? [1];
  if (
    !Array.isArray(seeds) ||
    seeds.length === 0 ||
    !seeds.every((s) => Number.isInteger(s) && (s as number) >= 0) ||
    new Set(seeds).size !== seeds.length
  )
    issues.push({
      path: "spec.seeds",
      message: `expected a list of distinct non-negative integers, got ${JSON.stringify(seeds)}`,
    });
  const baseline = spec.baseline ?? cells[0]?.id;
  if (cells.length && !cells.some((c) => c.id === baseline))
    issues.push({
      path: "spec.baseline",
      message: `expected one of the cells (${cells.map((c) => c.id).join(", ")}), got ${JSON.stringify(baseline)}`,
    });
  if (issues.length) throw new StudyError(issues);

  // The base: a bare spec or a TrainingRun manifest; overrides apply to its spec.
  const baseIsManifest =
    isMapping(baseDoc) && (baseDoc.kind !== undefined || baseDoc.apiVersion !== undefined);
  const baseSpec: unknown = baseIsManifest
    ? ((baseDoc as Record<string, unknown>).spec ?? {})
    : (baseDoc ?? {});
  if (!isMapping(baseSpec))
    throw new StudyError([{ path: basePath, message: "expected a run spec mapping" }]);

  const runs: StudyRun[] = [];
  for (const cell of cells) {
    for (const seed of seeds as number[]) {
      const raw = structuredClone(baseSpec);
      try {
        for (const [p, v] of Object.entries(set)) setPath(raw, p, v);
        for (const [p, v] of Object.entries(cell.overrides)) setPath(raw, p, v);
      } catch (err) {
        issues.push({ path: `spec.cells.${cell.id}`, message: (err as Error).message });
        continue;
      }
      setPath(raw, "training.seed", seed);
      try {
        runs.push({
          cell: cell.id,
          seed,
          spec: parseRunSpec(raw).spec,
          dir: `runs/${cell.id}/seed-${seed}`,
          name: runName(name as string, cell.id, seed),
        });
      } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        // Every seed of a cell fails alike: report the cell once.
        if (seed === (seeds as number[])[0])
          for (const i of err.issues) issues.push({ path: `cell ${cell.id}: ${i.path}`, message: i.message });
      }
    }
  }
  if (issues.length) throw new StudyError(issues);
  return {
    name: name as string,
    base: basePath,
    set,
    cells,
    seeds: seeds as number[],
    baseline: baseline as string,
    runs,
  };
}

export class StudyError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(
      `invalid study (${issues.length} error${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  ${i.path}: ${i.message}`).join("\n"),
    );
    this.name = "StudyError";
  }
}

/** Reads a study file and the base spec it names (a path relative to the study file). */
export async function loadStudyFile(path: string): Promise<StudyPlan> {
  const read = async (p: string, what: string) => {
    try {
      return await readFile(p, "utf8");
    } catch (err) {
      throw new Error(
        `cannot read ${what} ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  const parse = (text: string, p: string) => {
    try {
      return YAML.parse(text) as unknown;
    } catch (err) {
      throw new StudyError([{ path: p, message: `not valid YAML: ${(err as Error).message}` }]);
    }
  };
  const doc = parse(await read(path, "study"), path);
  const spec = isMapping(doc) && isMapping(doc.spec) ? doc.spec : {};
  if (typeof spec.base !== "string" || !spec.base)
    throw new StudyError([
      { path: "spec.base", message: "expected the path of a run spec, relative to the study file" },
    ]);
  const basePath = resolve(dirname(path), spec.base);
  return planStudy(doc, parse(await read(basePath, "base spec"), basePath), spec.base);
}

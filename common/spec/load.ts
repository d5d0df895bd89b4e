// Reading a run spec from YAML. A file may hold a bare spec or a whole TrainingRun manifest
// (apiVersion/kind/metadata/spec), so the same file works with `radfleet run` and `kubectl apply`.
import { readFile } from "node:fs/promises";
import YAML from "yaml";
import { runSpecSchema, type RunSpec } from "./run-spec.js";
import { parseOrThrow, SpecError } from "./schema.js";

export interface LoadedSpec {
  /** metadata.name of a TrainingRun manifest, else undefined. */
  name: string | undefined;
  spec: RunSpec;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates a parsed document; throws SpecError listing every problem with its field path. */
export function parseRunSpec(doc: unknown): LoadedSpec {
  if (doc === null || doc === undefined) return { name: undefined, spec: parseOrThrow(runSpecSchema, {}) };
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new SpecError([
      { path: "spec", message: "expected a mapping (a run spec or a TrainingRun manifest)" },
    ]);
  }
  const d = doc as Record<string, unknown>;
  if (d.kind !== undefined || d.apiVersion !== undefined) {
    const issues = [];
    if (d.kind !== "TrainingRun")
      issues.push({ path: "kind", message: `expected TrainingRun, got ${JSON.stringify(d.kind)}` });
    if (d.apiVersion !== "radfleet.io/v1alpha1") {
      issues.push({
        path: "apiVersion",
        message: `expected radfleet.io/v1alpha1, got ${JSON.stringify(d.apiVersion)}`,
      });
    }
    const meta = (d.metadata ?? {}) as Record<string, unknown>;
    const name = meta.name;
    if (name !== undefined && (typeof name !== "string" || !NAME.test(name) || name.length > 63)) {
      issues.push({
        path: "metadata.name",
        message: `expected a DNS label (lowercase, digits, '-'), got ${JSON.stringify(name)}`,
      });
    }
    let spec: RunSpec | undefined;
    try {
      spec = parseOrThrow(runSpecSchema, d.spec ?? {});
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      issues.push(...err.issues);
    }
    if (issues.length || !spec) throw new SpecError(issues);
    return { name: typeof name === "string" ? name : undefined, spec };
  }
  return { name: undefined, spec: parseOrThrow(runSpecSchema, doc) };
}

export function parseRunSpecYaml(text: string, source = "spec"): LoadedSpec {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new SpecError([{ path: source, message: `not valid YAML: ${(err as Error).message}` }]);
  }
  return parseRunSpec(doc);
}

export async function loadRunSpecFile(path: string): Promise<LoadedSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new Error(
      `cannot read run spec ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parseRunSpecYaml(text, path);
}

/** The spec with every default filled in, as YAML (written into run directories and ConfigMaps). */
export function resolvedSpecYaml(spec: RunSpec): string {
  return YAML.stringify(spec);
}

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

/**
 * A run's name also names its Service and is the value of its pods' labels, so it must be a
 * DNS-1035 label: a lowercase letter first, then letters, digits and '-', at most 63 characters.
 * Undefined when it is one; else what is wrong.
 */
export function runNameIssue(name: unknown): string | undefined {
  if (typeof name !== "string" || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63)
    return `expected a DNS-1035 label (a lowercase letter first, then lowercase letters, digits or '-', at most 63 characters; it names the run's Service), got ${JSON.stringify(name)}`;
  return undefined;
}

/** The same rule as CEL on the CRD's root, so the API server refuses such a name at creation. */
export const RUN_NAME_CEL = {
  rule: "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",
  message:
    "metadata.name must be a DNS-1035 label (a lowercase letter first, then lowercase letters, digits or '-', at most 63 characters): it names the run's Service",
};

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
    const nameIssue = name === undefined ? undefined : runNameIssue(name);
    if (nameIssue) issues.push({ path: "metadata.name", message: nameIssue });
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

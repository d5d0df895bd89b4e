import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { trainingRunCrd, trainingRunCrdYaml } from "../../common/spec/index.js";
import { CRD_COPIES } from "../../cli/commands/crd.js";

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
};

/** A structural schema (apiextensions.k8s.io/v1) gives every node a type, unless it preserves unknown fields. */
function untyped(s: Schema, path: string, out: string[]): string[] {
  if (!s.type && !s["x-kubernetes-preserve-unknown-fields"]) out.push(path);
  for (const [k, v] of Object.entries(s.properties ?? {})) untyped(v, `${path}.${k}`, out);
  if (s.items) untyped(s.items, `${path}[]`, out);
  if (typeof s.additionalProperties === "object") untyped(s.additionalProperties, `${path}{}`, out);
  return out;
}

describe("TrainingRun CRD", () => {
  it("committed copies under deploy/ and charts/ equal the generator's output (run `radfleet crd --write`)", () => {
    const generated = trainingRunCrdYaml();
    for (const path of CRD_COPIES) expect(readFileSync(path, "utf8"), path).toBe(generated);
  });

  it("is structural and carries the run spec schema, status and printer columns", () => {
    const crd = trainingRunCrd() as {
      spec: {
        names: { shortNames: string[] };
        versions: Array<{
          schema: { openAPIV3Schema: Schema };
          additionalPrinterColumns: Array<{ name: string }>;
        }>;
      };
    };
    const version = crd.spec.versions[0];
    expect(crd.spec.names.shortNames).toEqual(["tr"]);
    const root = version.schema.openAPIV3Schema;
    expect(untyped(root, "", [])).toEqual([]);
    expect(root.properties?.spec.properties?.training.properties?.batchSize.type).toBe("integer");
    expect(version.additionalPrinterColumns.map((c) => c.name)).toEqual([
      "Phase",
      "Ready",
      "Step",
      "Progress",
      "ETA",
      "Loss",
      "Restarts",
      "Age",
    ]);
    expect(YAML.parse(trainingRunCrdYaml())).toEqual(crd);
  });
});

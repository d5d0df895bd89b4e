import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { parseCommandLine } from "../../common/cli.js";
import { trainingRunCrdYaml } from "../../common/spec/index.js";

/** Where the generated CRD is committed; a test keeps these equal to the generator's output. */
export const CRD_COPIES = [
  "deploy/crd/trainingruns.radfleet.io.yaml",
  "charts/radfleet/crds/trainingruns.radfleet.io.yaml",
];

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    { write: { type: "boolean", default: false } },
    `usage: radfleet crd [--write]\n  Prints the TrainingRun CRD; --write updates ${CRD_COPIES.join(" and ")}.`,
  );
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const yaml = trainingRunCrdYaml();
  if (!values.write) {
    process.stdout.write(yaml);
    return 0;
  }
  for (const path of CRD_COPIES) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, yaml);
    console.log(`wrote ${path}`);
  }
  return 0;
}

// The Python that the tests comparing radfleet with Hugging Face run (tests/reference/):
// RADFLEET_REFERENCE_PYTHON, else python3. tests/run-all.sh builds one with CPU torch,
// transformers and peft (scripts/setup-reference-python.sh) and sets
// RADFLEET_REQUIRE_REFERENCE_PYTHON=1; there, and under CI (CI=true), a Python that cannot import
// what a test needs fails the suite instead of quietly skipping the test. Elsewhere the test is
// skipped and says so.
import { spawnSync } from "node:child_process";

export const REFERENCE_PYTHON = process.env.RADFLEET_REFERENCE_PYTHON || "python3";

/** Whether the reference Python imports every module named; throws where it is required. */
export function hasReferencePython(modules: string[]): boolean {
  const r = spawnSync(REFERENCE_PYTHON, ["-c", `import ${modules.join(", ")}`], {
    encoding: "utf8",
    timeout: 300_000, // importing torch takes a while on a busy machine
  });
  if (r.status === 0) return true;
  const problem = r.error?.message ?? (r.stderr.trim().split("\n").at(-1) || `exit code ${r.status}`);
  if (process.env.CI === "true" || process.env.RADFLEET_REQUIRE_REFERENCE_PYTHON === "1")
    throw new Error(
      `the reference Python is required here but ${REFERENCE_PYTHON} cannot import ${modules.join(", ")} (${problem}); ` +
        "run bash scripts/setup-reference-python.sh and set RADFLEET_REFERENCE_PYTHON to the python it prints",
    );
  return false;
}

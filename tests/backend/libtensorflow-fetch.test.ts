// Taking libtensorflow out of the wheel (libtensorflow-fetch.ts): the Python pip runs under, and
// the closure of headers the binding needs, read from a wheel written by Python's zipfile (as pip's
// wheels are). The download itself is exercised by `npm test`'s uncached setup run.
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findPython, headerClosure } from "../../trainer/backend/libtensorflow-fetch.js";
import { SetupError } from "../../trainer/backend/setup-tools.js";
import { listWheel } from "../../trainer/backend/wheel.js";

const MAKE_WHEEL = `
import sys, zipfile
members = {
  "tensorflow/include/tensorflow/c/c_api.h": '#include "tensorflow/c/tf_status.h"\\n#include <stdint.h>\\n',
  "tensorflow/include/tensorflow/c/tf_status.h": '#include "tensorflow/c/tf_export.h"\\n#include "not/in/the/wheel.h"\\n',
  "tensorflow/include/tensorflow/c/tf_export.h": "/* leaf */\\n",
  "tensorflow/include/tensorflow/core/unused.h": '#include "tensorflow/c/c_api.h"\\n',
}
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in members.items():
        z.writestr(name, text)
`;

describe("headerClosure", () => {
  it("follows the binding's includes through the wheel's headers, and only those", async () => {
    const dir = await mkdtemp(join(tmpdir(), "radfleet-headers-"));
    const wheel = join(dir, "tensorflow-2.21.0-cp311-cp311-linux_x86_64.whl");
    execFileSync("python3", ["-c", MAKE_WHEEL, wheel]);
    const pkgDir = join(dir, "pkg");
    await mkdir(join(pkgDir, "binding"), { recursive: true });
    await writeFile(
      join(pkgDir, "binding", "binding.cc"),
      '#include "tensorflow/c/c_api.h"\n#include "utils.h"\n#include <node_api.h>\n',
    );
    const entries = new Map((await listWheel(wheel)).map((e) => [e.name, e]));
    expect(await headerClosure(pkgDir, wheel, entries)).toEqual([
      "tensorflow/c/c_api.h",
      "tensorflow/c/tf_export.h",
      "tensorflow/c/tf_status.h",
    ]);
    // A binding that includes nothing from the wheel means the wrong wheel or the wrong package.
    await writeFile(join(pkgDir, "binding", "binding.cc"), '#include "utils.h"\n');
    await expect(headerClosure(pkgDir, wheel, entries)).rejects.toThrow(/none of the headers/);
  });
});

describe("findPython", () => {
  it("takes $PYTHON when it has pip, and skips a Python without pip for the next candidate", async () => {
    const real = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], {
      encoding: "utf8",
    }).trim();
    expect(findPython({ PYTHON: real })).toBe(real);
    const dir = await mkdtemp(join(tmpdir(), "radfleet-nopip-"));
    const noPip = join(dir, "python3-without-pip");
    await writeFile(noPip, '#!/bin/sh\n[ "$1" = "--version" ] && exit 0\nexit 1\n');
    await chmod(noPip, 0o755);
    expect(findPython({ PYTHON: noPip })).toBe("python3");
  });

  it("names what is missing when no candidate runs", () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      expect(() => findPython({ PYTHON: "/nonexistent/python" })).toThrow(SetupError);
      expect(() => findPython({})).toThrow(/no Python 3 found/);
    } finally {
      process.env.PATH = path;
    }
  });
});

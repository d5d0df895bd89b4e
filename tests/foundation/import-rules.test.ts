// The import rules of ../shared/DESIGN.md and ARCHITECTURE.md, checked on the real sources: which
// part may import which, only through a part's index.ts, no import cycles between files, and no
// network or tensor packages where the design keeps them out.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cycles, isFolderPart, partOf, readImportGraph, type ImportEdge } from "../helpers/import-graph.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

/**
 * What each part may import besides itself and the loose files of common/ (leaves every part may
 * use: log, cli, fs, progress, run-records, metrics, metrics-thread, chexpert, random, trainer-env, markdown). The order is the layering: a part lists
 * only parts above it in this table, so the table itself has no cycle (checked below). `*` marks the
 * top: the CLI, the benchmarks and scripts compose everything.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  "common/spec": [],
  "common/proto": [],
  "common/coordinator-client": ["common/proto"],
  "controller/launcher": [],
  "controller/coordinator": ["common/spec", "common/proto", "common/coordinator-client"],
  "controller/k8s": ["common/spec"],
  "trainer/backend": [],
  "trainer/data": [],
  "trainer/eval": [],
  "trainer/findings": ["trainer/eval"],
  "trainer/qlora": ["common/spec", "trainer/backend"],
  "trainer/optim": [],
  "trainer/checkpoint": ["trainer/qlora", "trainer/data", "trainer/optim"],
  "trainer/model": ["common/spec", "trainer/backend", "trainer/data", "trainer/qlora"],
  "trainer/collective": [],
  "trainer/train": [
    "common/spec",
    "common/coordinator-client",
    "trainer/backend",
    "trainer/data",
    "trainer/eval",
    "trainer/findings",
    "trainer/qlora",
    "trainer/optim",
    "trainer/checkpoint",
    "trainer/model",
    "trainer/collective",
  ],
  "trainer/study": ["common/spec", "trainer/eval"],
  "trainer/main.ts": [
    "common/spec",
    "trainer/backend",
    "trainer/checkpoint",
    "trainer/collective",
    "trainer/train",
  ],
  cli: ["*"],
  bench: ["*"],
  scripts: ["*"],
  bin: ["cli"],
};

/** Packages a part must not import, and why (DESIGN.md, "Which way the imports run"). */
const FORBIDDEN_PACKAGES: { parts: RegExp; packages: RegExp; why: string }[] = [
  {
    parts: /^(controller|common)\//,
    packages: /^@tensorflow\//,
    why: "the controller (and what it shares with the trainer) runs in a small image with no tensor engine",
  },
  {
    parts: /^trainer\/(model|qlora|data|eval|findings|optim)$/,
    packages: /^(@grpc\/|@nats-io\/|@kubernetes\/)/,
    why: "model, QLoRA, data and evaluation know nothing of gRPC, NATS or Kubernetes",
  },
  {
    parts: /^trainer\/(eval|findings)$/,
    packages: /^@tensorflow\//,
    why: "evaluation reads texts and labels; it does not depend on the model or a tensor engine",
  },
];

const isLooseCommon = (part: string) => /^common\/[^/]+\.(ts|js)$/.test(part);

const graph = readImportGraph(REPO);
const local = graph.edges.filter((e) => e.local);
const where = (e: ImportEdge) => `${e.from}:${e.line} imports ${e.to}`;

describe("import rules", () => {
  it("reads the real sources (the checks below are not vacuous)", () => {
    expect(graph.files.length).toBeGreaterThan(150);
    expect(local.length).toBeGreaterThan(500);
    // every part the sources have is in the table, and every table entry still exists
    const parts = new Set(graph.files.map(partOf).filter((p) => !isLooseCommon(p)));
    expect([...parts].filter((p) => !(p in MAY_IMPORT)).sort()).toEqual([]);
    const gone = Object.keys(MAY_IMPORT).filter((p) => !parts.has(p));
    expect(gone).toEqual([]);
  });

  it("the layering table has no cycle", () => {
    const edges = new Map<string, Set<string>>();
    for (const [p, deps] of Object.entries(MAY_IMPORT)) edges.set(p, new Set(deps.filter((d) => d !== "*")));
    expect(cycles(Object.keys(MAY_IMPORT), edges)).toEqual([]);
  });

  it("a part imports only the parts the table allows (no upward or sideways import)", () => {
    const bad: string[] = [];
    for (const e of local) {
      const from = partOf(e.from);
      const to = partOf(e.to);
      if (from === to || isLooseCommon(to)) continue;
      if (isLooseCommon(from)) {
        bad.push(`${where(e)}: a loose common/ file may import only other loose common/ files`);
        continue;
      }
      const allowed = MAY_IMPORT[from] ?? [];
      if (!allowed.includes("*") && !allowed.includes(to))
        bad.push(`${where(e)}: ${from} may not import ${to}`);
    }
    expect(bad).toEqual([]);
  });

  it("another part is imported only through its index.ts", () => {
    const bad = local
      .filter((e) => partOf(e.from) !== partOf(e.to) && isFolderPart(partOf(e.to)))
      .filter((e) => e.to !== `${partOf(e.to)}/index.ts`)
      .map(where);
    expect(bad).toEqual([]);
  });

  it("no import cycle between files (type-only imports included)", () => {
    const edges = new Map<string, Set<string>>();
    for (const e of local) {
      if (!edges.has(e.from)) edges.set(e.from, new Set());
      edges.get(e.from)!.add(e.to);
    }
    expect(cycles(graph.files, edges)).toEqual([]);
  });

  it("no network package in model, QLoRA, data or evaluation; no TensorFlow.js in the controller", () => {
    const bad: string[] = [];
    for (const e of graph.edges) {
      if (e.local) continue;
      const part = partOf(e.from);
      for (const rule of FORBIDDEN_PACKAGES) {
        if (rule.parts.test(part) && rule.packages.test(e.to)) bad.push(`${where(e)}: ${rule.why}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("every folder part has an index.ts", () => {
    const parts = new Set(graph.files.map(partOf).filter(isFolderPart));
    const withIndex = new Set(graph.files.filter((f) => f.endsWith("/index.ts")).map(partOf));
    expect([...parts].filter((p) => !withIndex.has(p)).sort()).toEqual([]);
  });
});

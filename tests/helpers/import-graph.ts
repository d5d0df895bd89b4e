// The product's import graph, read from the sources: which file imports which (static imports,
// `export … from`, dynamic `import()`, type-only imports too, since they are dependencies of the
// design even when erased), and which part of the system each file belongs to.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

/** Folders that hold product code (tests and fixtures are not parts). */
export const PRODUCT_ROOTS = ["bench", "bin", "cli", "common", "controller", "scripts", "trainer"];

export interface ImportEdge {
  from: string;
  /** a repository-relative path for a relative import, else the package specifier */
  to: string;
  /** whether `to` is a file of this repository */
  local: boolean;
  line: number;
}

function sourceFiles(root: string, dir: string, out: string[]): void {
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) {
      // Generated proto bindings are code nobody edits; they import only each other.
      if (name !== "node_modules" && name !== "generated") sourceFiles(root, rel, out);
    } else if (/\.(ts|js)$/.test(name) && !name.endsWith(".d.ts")) out.push(rel);
  }
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;

/** Every import of every product source file under `root`. */
export function readImportGraph(root: string): { files: string[]; edges: ImportEdge[] } {
  const files: string[] = [];
  for (const r of PRODUCT_ROOTS) {
    try {
      sourceFiles(root, r, files);
    } catch {
      // a root that does not exist has no files
    }
  }
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const src = readFileSync(join(root, file), "utf8");
    for (const m of src.matchAll(SPECIFIER)) {
      const spec = m[1];
      const line = src.slice(0, m.index).split("\n").length;
      if (spec.startsWith(".")) {
        // NodeNext: sources import "./x.js" for x.ts.
        const to = relative(".", normalize(join(dirname(file), spec))).replace(/\.js$/, ".ts");
        edges.push({ from: file, to, local: true, line });
      } else {
        edges.push({ from: file, to: spec, local: false, line });
      }
    }
  }
  return { files, edges };
}

/**
 * The part a file belongs to: a folder of `common/`, `controller/` or `trainer/` (its public surface
 * is the folder's index.ts); a loose file of `common/` (named with its .ts) is a part of its own (a leaf every part may
 * use); `trainer/main.ts` is the trainer's entry point; `bench`, `bin`, `cli` and `scripts` are one
 * part each.
 */
export function partOf(file: string): string {
  const segs = file.split("/");
  if (segs[0] === "common" || segs[0] === "controller" || segs[0] === "trainer") {
    return segs.length > 2 ? `${segs[0]}/${segs[1]}` : file;
  }
  return segs[0];
}

/** Whether a part is a folder with an index.ts surface (loose files and entry points are not). */
export function isFolderPart(part: string): boolean {
  return /^(common|controller|trainer)\/[^/.]+$/.test(part);
}

/** Strongly connected components with more than one node (or a self-loop): the import cycles. */
export function cycles(nodes: string[], edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges.get(v)?.has(v)) out.push(scc.sort());
    }
  };
  for (const n of [...nodes].sort()) if (!idx.has(n)) visit(n);
  return out;
}

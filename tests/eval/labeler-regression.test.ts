// The labeler's regression set: hand-written sentences, one per rule and per scope boundary, with the
// labels each must give (tests/fixtures/labeler/regression.tsv). A rule change that breaks one fails here.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, type ChexpertLabel, type LabelValue } from "../../common/chexpert.js";
import { describeDecision, labelReportDetailed } from "../../trainer/eval/index.js";

const FILE = fileURLToPath(new URL("../fixtures/labeler/regression.tsv", import.meta.url));

interface Case {
  line: number;
  rule: string;
  sentence: string;
  expected: Array<[ChexpertLabel, LabelValue]>;
}

function parseValue(v: string, where: string): LabelValue {
  if (v === "") return null;
  if (v === "1" || v === "0" || v === "-1") return Number(v) as LabelValue;
  throw new Error(`${where}: expected 1, 0, -1 or nothing after "=", got "${v}"`);
}

function readCases(): Case[] {
  const lines = readFileSync(FILE, "utf8").split("\n");
  const cases: Case[] = [];
  lines.forEach((text, i) => {
    const where = `${FILE}:${i + 1}`;
    if (text.trim() === "" || text.startsWith("#") || text.startsWith("rule\t")) return;
    const cells = text.split("\t");
    if (cells.length !== 3)
      throw new Error(`${where}: expected 3 tab-separated columns, got ${cells.length}`);
    const [rule, sentence, exp] = cells;
    const expected = exp.split(",").map((pair): [ChexpertLabel, LabelValue] => {
      const [name, v = ""] = pair.split("=").map((s) => s.trim());
      if (!(CHEXPERT_LABELS as readonly string[]).includes(name))
        throw new Error(`${where}: "${name}" is not one of the 14 CheXpert labels`);
      return [name as ChexpertLabel, parseValue(v, where)];
    });
    cases.push({ line: i + 1, rule, sentence, expected });
  });
  return cases;
}

const cases = readCases();

describe("labeler regression set", () => {
  it("has a case for every rule it names, and enough of them", () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((c) => [`${c.line} ${c.rule}: ${c.sentence}`, c] as const))("%s", (_name, c) => {
    const d = labelReportDetailed(c.sentence);
    for (const [label, want] of c.expected) {
      const got = d.labels[CHEXPERT_LABELS.indexOf(label)];
      expect({ label, got, why: describeDecision(d, label) }).toEqual({
        label,
        got: want,
        why: expect.any(String),
      });
    }
  });
});

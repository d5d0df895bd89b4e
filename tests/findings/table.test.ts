// The findings table: its two forms, the head's thresholds, table-carrying prompts as the model
// receives them, and the report-versus-own-table consistency check.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, labelIndex, NUM_LABELS, type LabelVector } from "../../common/chexpert.js";
import {
  longestTables,
  parseFindingsTable,
  renderTableText,
  severityOf,
  tableConsistency,
  tableFromLabels,
  tableFromProbs,
  tableVocabulary,
  thresholdsFromFile,
  tuneThresholds,
} from "../../trainer/findings/index.js";
import { labelReport } from "../../trainer/eval/index.js";
import { describePrompt, TablePrompts } from "../../trainer/train/table-prompts.js";
import {
  buildPrompt,
  buildWordLevelTokenizer,
  DEFAULT_INSTRUCTION,
  loadTokenizer,
  TINY_BASE_DIR,
  tokenizerFromJson,
} from "../../trainer/model/index.js";
import { encodeExample } from "../../trainer/train/batch.js";

function labels(values: Partial<Record<(typeof CHEXPERT_LABELS)[number], 1 | 0 | -1>>): LabelVector {
  const v: LabelVector = new Array(NUM_LABELS).fill(null);
  for (const [k, x] of Object.entries(values)) v[labelIndex(k as (typeof CHEXPERT_LABELS)[number])] = x;
  return v;
}

describe("the table format", () => {
  const report =
    "Moderate left pleural effusion. The heart is mildly enlarged. No pneumothorax. Possible mild edema.";
  const t = tableFromLabels(
    labels({ "Pleural Effusion": 1, Cardiomegaly: 1, Pneumothorax: 0, Edema: -1 }),
    report,
  );

  it("takes states from the labels and side and grade from the report's positive mentions", () => {
    expect(t.rows.map((r) => r.observation)).toEqual([...CHEXPERT_LABELS]);
    const row = (l: string) => t.rows.find((r) => r.observation === l)!;
    expect(row("Pleural Effusion")).toEqual({
      observation: "Pleural Effusion",
      state: "present",
      laterality: "left",
      severity: "moderate",
    });
    expect(row("Cardiomegaly")).toMatchObject({ state: "present", severity: "mild" });
    expect(row("Cardiomegaly").laterality).toBeUndefined();
    expect(row("Pneumothorax")).toEqual({ observation: "Pneumothorax", state: "absent" });
    expect(row("Edema").state).toBe("uncertain");
    expect(row("Fracture").state).toBe("not_mentioned");
  });

  it("renders compact text grouped by state, leaving out what is not mentioned", () => {
    expect(renderTableText(t)).toBe(
      "present: cardiomegaly mild, pleural effusion left moderate; possible: edema; no: pneumothorax",
    );
    expect(renderTableText(tableFromLabels(labels({})))).toBe("none");
  });

  it("grades severity only from words in the mention's own clause", () => {
    const text = "Small nodule. Right pleural effusion.";
    const at = (t: string, m: string) => ({ start: t.indexOf(m), end: t.indexOf(m) + m.length });
    expect(severityOf(text, at(text, "pleural effusion"))).toBeUndefined();
    const graded = "Large right pleural effusion.";
    expect(severityOf(graded, at(graded, "pleural effusion"))).toBe("severe");
    const inside = "The heart is moderately enlarged.";
    expect(severityOf(inside, at(inside, "heart is moderately enlarged"))).toBe("moderate");
  });

  it("calls both sides bilateral", () => {
    const b = tableFromLabels(
      labels({ "Pleural Effusion": 1 }),
      "Small left pleural effusion. Small right pleural effusion.",
    );
    expect(b.rows[labelIndex("Pleural Effusion")].laterality).toBe("bilateral");
  });

  it("round-trips as JSON and names what is wrong in a bad one", () => {
    expect(parseFindingsTable(JSON.parse(JSON.stringify(t)))).toEqual(t);
    const bad = JSON.parse(JSON.stringify(t));
    bad.rows[3].state = "maybe";
    expect(parseFindingsTable(bad)).toMatch(/rows\[3\]\.state: expected one of present, absent/);
    bad.rows[3].state = "absent";
    bad.rows[5].observation = "Fractures";
    expect(parseFindingsTable(bad)).toMatch(/rows\[5\]\.observation: expected "Fracture"/);
    expect(parseFindingsTable({ rows: [] })).toMatch(/expected 14 rows/);
  });

  it("makes the head's table from probabilities and per-observation thresholds", () => {
    const probs = CHEXPERT_LABELS.map((_, i) => i / 20);
    const thr = CHEXPERT_LABELS.map(() => 0.5);
    thr[1] = 0.04; // Cardiomegaly at 0.05 is present with its own threshold
    const h = tableFromProbs(probs, thr);
    expect(h.source).toBe("head");
    expect(h.rows.filter((r) => r.state === "present").map((r) => r.observation)).toEqual([
      "Cardiomegaly",
      ...CHEXPERT_LABELS.slice(10),
    ]);
    expect(h.rows.every((r) => r.state === "present" || r.state === "absent")).toBe(true);
    expect(() => tableFromProbs(probs.slice(1), thr)).toThrow(/13 probabilities/);
  });
});

describe("thresholds tuned on validation reports", () => {
  it("maximise each observation's F1 and keep 0.5 where F1 cannot choose", () => {
    // Cardiomegaly: positives score 0.30 and 0.35, negatives 0.10 and 0.32 → best cut between 0.30
    // and the 0.10 negative is 0.2 (F1 0.8), while 0.5 would find none.
    const p = (c: number) => CHEXPERT_LABELS.map((l) => (l === "Cardiomegaly" ? c : 0.9));
    const probs = [p(0.3), p(0.35), p(0.1), p(0.32)];
    const y = [
      labels({ Cardiomegaly: 1, Edema: 1 }),
      labels({ Cardiomegaly: 1, Edema: 1 }),
      labels({ Cardiomegaly: 0, Edema: 1 }),
      labels({ Cardiomegaly: 0, Edema: 1 }),
    ];
    const { thresholds, file } = tuneThresholds(probs, y, "negative", {
      split: "validate",
      reports: 4,
      step: 7,
    });
    const k = labelIndex("Cardiomegaly");
    expect(thresholds[k]).toBeCloseTo(0.2, 6);
    expect(file.tuning.Cardiomegaly).toEqual({ rule: "max_f1", f1: 0.8, positives: 2 });
    // Edema: only positives; Fracture: never labelled.
    expect(thresholds[labelIndex("Edema")]).toBe(0.5);
    expect(file.tuning.Edema.rule).toBe("default");
    expect(file.tuning.Fracture).toEqual({ rule: "default", f1: null, positives: 0 });
    expect(thresholdsFromFile(JSON.parse(JSON.stringify(file)), "t.json")).toEqual(thresholds);
    expect(() => thresholdsFromFile({ thresholds: { ...file.thresholds, Edema: 0 } }, "t.json")).toThrow(
      /t\.json: thresholds\["Edema"\] must be a number in \(0, 1\]/,
    );
  });
});

describe("thresholds near saturation", () => {
  it("are saved at full precision, so the tuned cut still separates what it separated", () => {
    const k = labelIndex("Edema");
    const p = (c: number) => CHEXPERT_LABELS.map((l) => (l === "Edema" ? c : 0.5));
    const probs = [p(0.2), p(0.9999995), p(0.9999999)];
    const y = [labels({ Edema: 0 }), labels({ Edema: 0 }), labels({ Edema: 1 })];
    const { thresholds, file } = tuneThresholds(probs, y, "negative", {
      split: "validate",
      reports: 3,
      step: 1,
    });
    expect(file.tuning.Edema).toMatchObject({ rule: "max_f1", f1: 1 });
    const saved = thresholdsFromFile(JSON.parse(JSON.stringify(file)), "t.json");
    expect(saved).toEqual(thresholds);
    expect(probs[2][k] >= saved[k] && probs[1][k] < saved[k]).toBe(true);
  });
});

describe("a report against its own table", () => {
  const table = tableFromProbs(
    CHEXPERT_LABELS.map((l) => (l === "Pleural Effusion" || l === "Cardiomegaly" ? 0.9 : 0.1)),
    CHEXPERT_LABELS.map(() => 0.5),
  );
  it("is consistent when it asserts what the table has and nothing it denies", () => {
    const r = labelReport("Cardiomegaly. Small right pleural effusion.");
    expect(tableConsistency(r, table, "negative")).toEqual({
      consistent: true,
      contradicted: [],
      unreported: [],
    });
  });
  it("contradicts by denying a present finding or asserting an absent one; unreported when silent", () => {
    const r = labelReport("No pleural effusion. There is a right pneumothorax.");
    expect(tableConsistency(r, table, "negative")).toEqual({
      consistent: false,
      contradicted: ["Pleural Effusion", "Pneumothorax"],
      unreported: ["Cardiomegaly"],
    });
  });
});

describe("prompts that carry a table", () => {
  const tok = tokenizerFromJson(buildWordLevelTokenizer([tableVocabulary(), DEFAULT_INSTRUCTION]));
  const numImageTokens = 5;
  const prompts = new TablePrompts(tok, numImageTokens);
  const table = tableFromLabels(
    labels({ "Pleural Effusion": 1, Pneumothorax: 0 }),
    "Small left pleural effusion. No pneumothorax.",
  );

  it("puts the rendered table after the image tokens, between its markers, in the tokens the model gets", () => {
    const ids = prompts.prompt(table);
    const plain = buildPrompt(tok, { numImageTokens });
    expect(ids.slice(0, plain.length)).toEqual(plain); // image positions and instruction unchanged
    const open = ids.indexOf(tok.tokenId("<table>"));
    const close = ids.indexOf(tok.tokenId("</table>"));
    expect(open).toBe(plain.length);
    expect(close).toBe(ids.length - 1);
    expect(ids.slice(open + 1, close)).toEqual(tok.encode(renderTableText(table)));
    expect(ids).not.toContain(tok.unkId);
    expect(tok.decode(ids.slice(open + 1, close))).toBe(
      "present: pleural effusion left mild; no: pneumothorax",
    );
    expect(describePrompt(tok, ids)).toMatch(
      /^<bos> <image>×5 .*<table> present: pleural effusion left mild; no: pneumothorax <\/table>$/,
    );
  });

  it("reads with the shipped tiny base's tokenizer without an unknown word", async () => {
    const base = await loadTokenizer(join(TINY_BASE_DIR, "tokenizer.json"));
    for (const t of [table, ...longestTables()]) {
      const text = renderTableText(t);
      expect(base.encode(text), text).not.toContain(base.unkId);
    }
  });

  it("budgets for the longest table, and every sequence keeps one length", () => {
    for (const t of longestTables()) expect(prompts.prompt(t).length).toBeLessThanOrEqual(prompts.maxLength);
    const seqLen = prompts.maxLength + 8 + 1;
    const a = encodeExample(prompts.prompt(table), tok.encode("small left pleural effusion"), 8, tok, seqLen);
    const b = encodeExample(prompts.prompt(longestTables()[0]), tok.encode("no"), 8, tok, seqLen);
    expect(a.ids.length).toBe(seqLen);
    expect(b.ids.length).toBe(seqLen);
    // The report follows its own prompt: the loss starts at the last prompt token.
    expect(a.lossMask.indexOf(1)).toBe(prompts.prompt(table).length - 1);
    expect(() => encodeExample(prompts.prompt(table), [], 8, tok, 10)).toThrow(/cannot hold/);
  });
});

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { extractSections } from "../../trainer/data/index.js";

describe("extractSections", () => {
  it("reads MIMIC-style upper-case headers with wrapped lines and keeps ___ marks", () => {
    const text = [
      "                                 FINAL REPORT",
      " INDICATION:  ___ with cough.",
      "",
      " FINDINGS:",
      "",
      " The heart is mildly enlarged. Small left pleural",
      " effusion. No pneumothorax.",
      "",
      " IMPRESSION:",
      "",
      " Cardiomegaly and small left effusion, new since ___.",
    ].join("\n");
    expect(extractSections(text)).toEqual({
      findings: "The heart is mildly enlarged. Small left pleural effusion. No pneumothorax.",
      impression: "Cardiomegaly and small left effusion, new since ___.",
    });
  });

  it("accepts any case, headers without colons on their own line, and impression before findings", () => {
    const text = "Impression\nNo acute process.\n\nfindings\nLungs are clear.\nXXXX normal.";
    expect(extractSections(text)).toEqual({
      findings: "Lungs are clear. XXXX normal.",
      impression: "No acute process.",
    });
  });

  it("splits one-line Open-i reports at 'Impression:' and leaves 'no new findings' inside a sentence alone", () => {
    const text = "Findings: There are no new findings of concern. Heart normal. Impression: Negative chest.";
    expect(extractSections(text)).toEqual({
      findings: "There are no new findings of concern. Heart normal.",
      impression: "Negative chest.",
    });
  });

  it("stops a section at the next unrelated header", () => {
    const text = "FINDINGS: Normal heart.\nCOMPARISON: None.\nIMPRESSION: Normal.\nRECOMMENDATION(S): none";
    const s = extractSections(text);
    expect(s.findings).toBe("Normal heart.");
    expect(s.impression).toBe("Normal.");
  });

  it("treats a report without headers as findings", () => {
    expect(extractSections("  Heart size normal.\n Lungs clear. ")).toEqual({
      findings: "Heart size normal. Lungs clear.",
      impression: "",
    });
  });

  it("finds a findings or impression section in each of the 296 real IU X-ray reports, matching the published sections", () => {
    const reports = JSON.parse(
      readFileSync(new URL("../fixtures/iu-xray/reports-valid.json", import.meta.url), "utf8"),
    ) as Record<string, { report: string; section_findings: string; section_impression: string }>;
    const entries = Object.entries(reports);
    expect(entries.length).toBe(296);
    let agreeF = 0;
    let agreeI = 0;
    for (const [id, r] of entries) {
      const s = extractSections(r.report);
      expect(s.findings.length + s.impression.length, id).toBeGreaterThan(0);
      if (s.findings === r.section_findings.replace(/\s+/g, " ").trim()) agreeF++;
      if (s.impression === r.section_impression.replace(/\s+/g, " ").trim()) agreeI++;
      expect(s.findings.includes("Impression:"), id).toBe(false);
    }
    // The published sections were cut by another tool; ours should agree on nearly all.
    expect(agreeF / entries.length).toBeGreaterThan(0.95);
    expect(agreeI / entries.length).toBeGreaterThan(0.95);
  });
});

describe("parseCsv", () => {
  it("reads quoted fields, doubled quotes and CRLF, and reports rows of the wrong width by line", async () => {
    const { parseCsv } = await import("../../trainer/data/csv.js");
    const t = parseCsv('a,b,c\r\n1,"x, ""y""",3\r\nshort,row\r\n4,5,6\r\n');
    expect(t.header).toEqual(["a", "b", "c"]);
    expect(t.rows).toEqual([
      ["1", 'x, "y"', "3"],
      ["4", "5", "6"],
    ]);
    expect(t.malformedLines).toEqual([3]);
    const plain = parseCsv("a,b\n1,2\n\n3\n5,6");
    expect(plain.rows).toEqual([
      ["1", "2"],
      ["5", "6"],
    ]);
    expect(plain.malformedLines).toEqual([4]);
  });
});

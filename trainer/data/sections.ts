// FINDINGS / IMPRESSION extraction from free-text radiology reports.
// Headers may be in any case, with or without a colon, in any order, and the text under them may be
// wrapped over several lines. De-identification marks (MIMIC's "___", Open-i's "XXXX") are kept as they are.

// Headers that end a section. Only a header at the start of a line, or at the start of a sentence
// followed by a colon, counts, so that "no new findings" inside a sentence is not taken for a header.
const SECTION_NAMES = [
  "findings",
  "impression",
  "impressions",
  "conclusion",
  "indication",
  "indications",
  "history",
  "clinical history",
  "comparison",
  "comparisons",
  "technique",
  "examination",
  "exam",
  "reason for exam",
  "notification",
  "recommendation",
  "recommendations",
  "recommendation(s)",
  "wet read",
  "final report",
  "addendum",
];

const NAME_ALT = SECTION_NAMES.map((n) => n.replace(/[()]/g, "\\$&").replace(/ /g, "\\s+")).join("|");
// A header with a colon may sit mid-line, as in the one-line Open-i reports ("... normal. Impression: ...",
// sometimes with the full stop missing); a header without a colon must stand alone on its line.
const HEADER_RE = new RegExp(`\\b(${NAME_ALT})[ \\t]*:|^[ \\t]*(${NAME_ALT})[ \\t]*$`, "gim");

/** A mid-line "name:" is a header after a sentence end or when capitalised; "no new findings: ..." is not. */
function isHeaderAt(text: string, index: number, name: string): boolean {
  const lineStart = text.lastIndexOf("\n", index - 1) + 1;
  const before = text.slice(lineStart, index).trim();
  return before === "" || /[.!?:]$/.test(before) || /^[A-Z]/.test(name);
}

function kindOf(name: string): "findings" | "impression" | "other" {
  const n = name.toLowerCase().replace(/\s+/g, " ");
  if (n === "findings") return "findings";
  if (n === "impression" || n === "impressions" || n === "conclusion") return "impression";
  return "other";
}

/** Joins wrapped lines and squeezes whitespace; the words themselves are left untouched. */
function tidy(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

export function extractSections(text: string): { findings: string; impression: string } {
  const heads: Array<{ kind: "findings" | "impression" | "other"; start: number; end: number }> = [];
  for (const m of text.matchAll(HEADER_RE)) {
    const name = m[1] ?? m[2] ?? "";
    if (m[1] !== undefined && !isHeaderAt(text, m.index, name)) continue;
    heads.push({ kind: kindOf(name), start: m.index, end: m.index + m[0].length });
  }
  const parts: { findings: string[]; impression: string[] } = { findings: [], impression: [] };
  heads.forEach((h, i) => {
    if (h.kind === "other") return;
    const stop = i + 1 < heads.length ? heads[i + 1].start : text.length;
    const body = tidy(text.slice(h.end, stop));
    if (body) parts[h.kind].push(body);
  });
  let findings = parts.findings.join(" ");
  const impression = parts.impression.join(" ");
  if (heads.length === 0) {
    // A report without any header (some MIMIC reports are one paragraph): the whole text is the findings.
    findings = tidy(text);
  }
  return { findings, impression };
}

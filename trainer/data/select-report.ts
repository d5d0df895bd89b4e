// Picks the section(s) a run learns from a report's extracted sections.
import type { LoadOptions } from "./types.js";

export function selectReport(
  sections: { findings: string; impression: string },
  section: LoadOptions["section"],
): string {
  if (section === "findings") return sections.findings;
  if (section === "impression") return sections.impression;
  return [sections.findings, sections.impression].filter((s) => s.length > 0).join("\n\n");
}

// The alert rules, proved with Prometheus's own rule engine: `promtool test rules` on
// deploy/prometheus/radfleet-rules.test.yaml (each alert fires on its state, and not on the states
// that must not page), plus the bookkeeping that keeps rules, tests and runbooks together.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import YAML from "yaml";

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PROMTOOL = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p)) ?? "promtool";

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}

async function rules(): Promise<Rule[]> {
  const doc = YAML.parse(await readFile(`${REPO}/deploy/prometheus/radfleet-rules.yaml`, "utf8")) as {
    groups: Array<{ rules: Rule[] }>;
  };
  return doc.groups.flatMap((g) => g.rules);
}

describe("alert rules", () => {
  it("pass promtool's unit tests", async () => {
    const { stdout, stderr } = await exec(
      PROMTOOL,
      ["test", "rules", "deploy/prometheus/radfleet-rules.test.yaml"],
      {
        cwd: REPO,
      },
    ).catch((err: { stdout: string; stderr: string }) => err);
    expect(`${stdout}${stderr}`).toMatch(/SUCCESS/);
    expect(`${stdout}${stderr}`).not.toMatch(/FAILED/);
  });

  it("every alert is tested, and every runbook link lands on a section of the chart README", async () => {
    const all = await rules();
    const tests = await readFile(`${REPO}/deploy/prometheus/radfleet-rules.test.yaml`, "utf8");
    const readme = await readFile(`${REPO}/charts/radfleet/README.md`, "utf8");
    const anchors = new Set(
      [...readme.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        m[1]
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, "")
          .replace(/ /g, "-"),
      ),
    );
    for (const r of all) {
      expect(tests, r.alert).toContain(`alertname: ${r.alert}`);
      const url = r.annotations.runbook_url;
      expect(url, r.alert).toMatch(
        /^https:\/\/github\.com\/radfleet\/radfleet\/blob\/main\/charts\/radfleet\/README\.md#/,
      );
      expect(anchors, `${r.alert}: ${url}`).toContain(url.split("#")[1]);
    }
  });
});

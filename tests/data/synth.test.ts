import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHEXPERT_LABELS, labelIndex } from "../../common/chexpert.js";
import { loadDataset, synthesize } from "../../trainer/data/index.js";
import { singleFinding } from "../../trainer/data/synth/findings-state.js";
import { drawRadiograph } from "../../trainer/data/synth/draw-radiograph.js";
import { mulberry32 } from "../../common/random.js";
import { run as synthCli } from "../../cli/commands/data-synth.js";
import { labelReport } from "../../trainer/eval/chexpert-labeler.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "radfleet-data-synth-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * How visible a finding is at 32x32: the largest mean absolute difference (0..255) over a 3x3 window
 * between the film with the finding and the same patient without it.
 */
async function visibility(
  label: (typeof CHEXPERT_LABELS)[number],
  difficulty: "easy" | "hard",
  seed: number,
): Promise<number> {
  const at32 = async (px: Uint8Array) =>
    sharp(px, { raw: { width: 128, height: 128, channels: 1 } })
      .resize(32, 32)
      .toColourspace("b-w")
      .raw()
      .toBuffer();
  const withF = await at32(
    drawRadiograph(singleFinding(label, mulberry32(seed)), mulberry32(seed + 1), { size: 128, difficulty }),
  );
  const without = await at32(
    drawRadiograph(singleFinding("No Finding", mulberry32(seed)), mulberry32(seed + 1), {
      size: 128,
      difficulty,
    }),
  );
  let best = 0;
  for (let y = 1; y < 31; y++)
    for (let x = 1; x < 31; x++) {
      let d = 0;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++)
          d += Math.abs(withF[(y + dy) * 32 + x + dx] - without[(y + dy) * 32 + x + dx]);
      best = Math.max(best, d / 9);
    }
  return best;
}

describe("synthesize", () => {
  it("is deterministic from the seed and writes the MIMIC-CXR-JPG files", async () => {
    await synthesize({ out: join(dir, "a"), studies: 12, seed: 3, difficulty: "easy", imageSize: 32 });
    await synthesize({ out: join(dir, "b"), studies: 12, seed: 3, difficulty: "easy", imageSize: 32 });
    for (const f of [
      "mimic-cxr-2.0.0-split.csv",
      "mimic-cxr-2.0.0-chexpert.csv",
      "mimic-cxr-2.0.0-metadata.csv",
    ])
      expect(readFileSync(join(dir, "b", f), "utf8")).toBe(readFileSync(join(dir, "a", f), "utf8"));
    const a = await loadDataset({ format: "synthetic", root: join(dir, "a"), section: "both" });
    const b = await loadDataset({ format: "synthetic", root: join(dir, "b"), section: "both" });
    expect(b.examples.map((e) => e.report)).toEqual(a.examples.map((e) => e.report));
    expect(readFileSync(b.examples[5].imagePath as string)).toEqual(
      readFileSync(a.examples[5].imagePath as string),
    );
    expect(readdirSync(join(dir, "a", "files"))).toEqual(["p10"]);
  });

  it("honours prevalence and the terse report style", async () => {
    await synthesize({
      out: join(dir, "p"),
      studies: 30,
      seed: 4,
      difficulty: "hard",
      imageSize: 32,
      reportStyle: "terse",
      prevalence: { Cardiomegaly: 1, "Pleural Effusion": 0 },
    });
    const ds = await loadDataset({ format: "synthetic", root: join(dir, "p"), section: "both" });
    const cm = labelIndex("Cardiomegaly");
    const eff = labelIndex("Pleural Effusion");
    expect(ds.examples.every((e) => e.labels[cm] === 1 || e.labels[cm] === -1)).toBe(true);
    expect(ds.examples.every((e) => e.labels[eff] !== 1 && e.labels[eff] !== -1)).toBe(true);
    expect(ds.examples.every((e) => e.labels[labelIndex("No Finding")] !== 1)).toBe(true);
    const def = await loadDataset({ format: "synthetic", root: join(dir, "a"), section: "findings" });
    const words = (x: typeof ds) => new Set(x.examples.flatMap((e) => e.findings.split(/\W+/)));
    // Phrasings differ: the terse corpus lacks the default one's stock words.
    expect(words(def).has("silhouette") || words(def).has("clear") || words(def).has("normal")).toBe(true);
    expect(words(ds).has("silhouette")).toBe(false);
  });

  it.each([
    ["default", "easy"],
    ["default", "hard"],
    ["terse", "hard"],
  ] as const)(
    "the labels CSV is what radfleet's CheXpert labeler reads in each report (%s style, %s)",
    async (reportStyle, difficulty) => {
      const out = join(dir, `agree-${reportStyle}-${difficulty}`);
      await synthesize({ out, studies: 400, seed: 21, difficulty, imageSize: 32, reportStyle });
      const ds = await loadDataset({ format: "synthetic", root: out, section: "both" });
      expect(ds.examples.length).toBe(400);
      const disagreements: string[] = [];
      for (const e of ds.examples) {
        const read = labelReport(e.report);
        CHEXPERT_LABELS.forEach((name, i) => {
          if (read[i] !== e.labels[i])
            disagreements.push(`${e.id} ${name}: csv ${e.labels[i]}, labeler ${read[i]}: ${e.report}`);
        });
      }
      expect(disagreements.slice(0, 5)).toEqual([]);
    },
  );

  it.each(["easy", "hard"] as const)(
    "the impression states every positive and uncertain observation of the labels, devices included (%s)",
    async (difficulty) => {
      // A model trained on impressions (data.section, the default) is scored against these labels:
      // what they hold must be in its targets. (Negatives live in the findings section.)
      const out = join(dir, `impression-${difficulty}`);
      await synthesize({ out, studies: 400, seed: 22, difficulty, imageSize: 32 });
      const ds = await loadDataset({ format: "synthetic", root: out, section: "impression" });
      const missing: string[] = [];
      let devices = 0;
      for (const e of ds.examples) {
        const read = labelReport(e.report);
        CHEXPERT_LABELS.forEach((name, i) => {
          if (e.labels[i] !== 1 && e.labels[i] !== -1) return;
          if (name === "Support Devices") devices++;
          if (read[i] !== e.labels[i])
            missing.push(`${e.id} ${name}: csv ${e.labels[i]}, impression ${read[i]}: ${e.report}`);
        });
      }
      expect(devices).toBeGreaterThan(40);
      expect(missing.slice(0, 5)).toEqual([]);
    },
  );

  it("draws each finding visibly at 32x32 when easy, and more faintly when hard", async () => {
    for (const label of CHEXPERT_LABELS) {
      if (label === "No Finding") continue;
      let easy = 0;
      let hard = 0;
      for (const seed of [1, 2, 3]) {
        easy += await visibility(label, "easy", seed * 10);
        hard += await visibility(label, "hard", seed * 10);
      }
      easy /= 3;
      hard /= 3;
      console.log(
        `${label.padEnd(28)} peak 3x3 |diff| at 32x32: easy ${easy.toFixed(1)}, hard ${hard.toFixed(1)}`,
      );
      expect(easy, `${label} easy`).toBeGreaterThan(25);
      expect(hard, `${label} hard`).toBeLessThan(easy);
    }
  });

  it("radfleet data synth writes a set and refuses bad flags", async () => {
    const out: string[] = [];
    const w = process.stdout.write.bind(process.stdout);
    const e = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((c: string | Uint8Array) => (
      out.push(String(c)),
      true
    )) as typeof process.stdout.write;
    process.stderr.write = ((c: string | Uint8Array) => (
      out.push(String(c)),
      true
    )) as typeof process.stderr.write;
    try {
      expect(
        await synthCli([
          "--out",
          join(dir, "cli"),
          "--studies",
          "5",
          "--seed",
          "1",
          "--size",
          "32",
          "--json",
        ]),
      ).toBe(0);
      expect(await synthCli(["--out", join(dir, "cli2"), "--studies", "five"])).toBe(2);
      expect(await synthCli(["--studies", "5", "--difficulty", "medium", "--out", "x"])).toBe(2);
      expect(await synthCli(["--bogus"])).toBe(2);
      // Prevalence from the command line: every study has cardiomegaly, none an effusion.
      const prev = ["--prevalence", "Cardiomegaly=1, Pleural Effusion=0"];
      expect(
        await synthCli(["--out", join(dir, "cli-prev"), "--studies", "20", "--size", "32", ...prev]),
      ).toBe(0);
      expect(await synthCli(["--out", "x", "--studies", "5", "--prevalence", "Cardiomegally=0.5"])).toBe(2);
      expect(await synthCli(["--out", "x", "--studies", "5", "--prevalence", "Edema=1.5"])).toBe(2);
    } finally {
      process.stdout.write = w;
      process.stderr.write = e;
    }
    expect(JSON.parse(out[0]) as { studies: number }).toMatchObject({ studies: 5 });
    expect(out.join("")).toMatch(/--studies: expected an integer >= 1, got "five"/);
    expect(out.join("")).toMatch(/--difficulty: expected one of easy, hard, got "medium"/);
    expect(out.join("")).toMatch(/--prevalence: "Cardiomegally=0.5": expected Label=P with a CheXpert label/);
    expect(out.join("")).toMatch(/--prevalence: Edema: expected a probability in \[0, 1\], got "1.5"/);
    const prev = await loadDataset({ format: "synthetic", root: join(dir, "cli-prev"), section: "both" });
    const [cm, eff] = [labelIndex("Cardiomegaly"), labelIndex("Pleural Effusion")];
    for (const e of prev.examples) {
      expect([1, -1]).toContain(e.labels[cm]);
      expect(e.labels[eff]).not.toBe(1);
    }
    const ds = await loadDataset({ format: "synthetic", root: join(dir, "cli"), section: "both" });
    expect(ds.examples.length).toBe(5);
  });
});

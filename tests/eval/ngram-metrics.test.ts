// n-gram metrics against values produced by the reference implementations
// (tests/reference/eval/make_ngram_fixtures.py: rouge-score 0.1.2, pycocoevalcap 1.2, nltk Porter).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  cocoBleu,
  cocoNormalize,
  cocoRougeL,
  porterStem,
  rougeL,
  rougeLsum,
} from "../../trainer/eval/index.js";

const fixDir = fileURLToPath(new URL("../fixtures/eval/", import.meta.url));

interface PRF {
  precision: number;
  recall: number;
  fmeasure: number;
}
interface RougeRow {
  target?: string;
  reference?: string;
  prediction: string;
  plain: { rougeL: PRF; rougeLsum: PRF };
  stemmed: { rougeL: PRF; rougeLsum: PRF };
}
interface Fixture {
  rougeTestdata: RougeRow[];
  rougeReports: RougeRow[];
  coco: {
    normalizedReferences: string[];
    normalizedPredictions: string[];
    bleu: number[];
    bleuPerReport: number[][];
    rougeL: number;
    rougeLPerReport: number[];
    multiReference: { extraOffset: number; bleu: number[]; rougeL: number };
    selfBleu: number[];
  };
  porter: Record<string, string>;
}
const fx = JSON.parse(readFileSync(fixDir + "ngram-reference.json", "utf8")) as Fixture;

function expectPRF(got: PRF, want: PRF): void {
  expect(got.precision).toBeCloseTo(want.precision, 12);
  expect(got.recall).toBeCloseTo(want.recall, 12);
  expect(got.fmeasure).toBeCloseTo(want.fmeasure, 12);
}

describe("rouge-score reproduction", () => {
  it("gives the published rougeL on the first pair of rouge/testdata", () => {
    const target = readFileSync(fixDir + "rouge-target.txt", "utf8").split("\n")[0];
    const prediction = readFileSync(fixDir + "rouge-prediction.txt", "utf8").split("\n")[0];
    const s = rougeL(target, prediction, { stem: false });
    // rouge_scorer_test.py: R 0.40741, P 0.68750, F 0.51163
    expect(s.recall).toBeCloseTo(0.40741, 5);
    expect(s.precision).toBeCloseTo(0.6875, 5);
    expect(s.fmeasure).toBeCloseTo(0.51163, 5);
  });

  it("matches rouge-score on every testdata pair, stemmed and not, rougeL and rougeLsum", () => {
    for (const row of fx.rougeTestdata) {
      const t = row.target ?? "";
      for (const stem of [false, true]) {
        const want = stem ? row.stemmed : row.plain;
        expectPRF(rougeL(t, row.prediction, { stem }), want.rougeL);
        expectPRF(rougeLsum(t, row.prediction, { stem }), want.rougeLsum);
      }
    }
  });

  it("matches rouge-score on 60 multi-sentence IU X-ray report pairs", () => {
    expect(fx.rougeReports.length).toBe(60);
    for (const row of fx.rougeReports) {
      const t = row.reference ?? "";
      for (const stem of [false, true]) {
        const want = stem ? row.stemmed : row.plain;
        expectPRF(rougeL(t, row.prediction, { stem }), want.rougeL);
        expectPRF(rougeLsum(t, row.prediction, { stem }), want.rougeLsum);
      }
    }
  });

  it("stems every word as NLTK's PorterStemmer does", () => {
    const wrong = Object.entries(fx.porter).filter(([w, s]) => porterStem(w) !== s);
    expect(wrong.map(([w, s]) => `${w}: want ${s}, got ${porterStem(w)}`)).toEqual([]);
    expect(Object.keys(fx.porter).length).toBeGreaterThan(500);
  });
});

describe("pycocoevalcap reproduction", () => {
  const refs = fx.coco.normalizedReferences;
  const preds = fx.coco.normalizedPredictions;

  it("normalises reports the way the fixture script does", () => {
    const rows = fx.rougeReports;
    expect(rows.map((r) => cocoNormalize(r.reference ?? ""))).toEqual(refs);
    expect(rows.map((r) => cocoNormalize(r.prediction))).toEqual(preds);
  });

  it("matches corpus and per-report BLEU-1..4", () => {
    const got = cocoBleu(preds.map((p, i) => ({ hypothesis: p, references: [refs[i]] })));
    got.bleu.forEach((b, k) => expect(b).toBeCloseTo(fx.coco.bleu[k], 12));
    got.perPair.forEach((col, k) =>
      col.forEach((b, i) => expect(b).toBeCloseTo(fx.coco.bleuPerReport[k][i], 12)),
    );
  });

  it("matches ROUGE-L (β = 1.2) mean and per report", () => {
    const got = cocoRougeL(preds.map((p, i) => ({ hypothesis: p, references: [refs[i]] })));
    expect(got.rougeL).toBeCloseTo(fx.coco.rougeL, 12);
    got.perPair.forEach((v, i) => expect(v).toBeCloseTo(fx.coco.rougeLPerReport[i], 12));
  });

  it("matches with two references per report (closest length, max P and R)", () => {
    const off = fx.coco.multiReference.extraOffset;
    const pairs = preds.map((p, i) => ({
      hypothesis: p,
      references: [refs[i], refs[(i + off) % refs.length]],
    }));
    cocoBleu(pairs).bleu.forEach((b, k) => expect(b).toBeCloseTo(fx.coco.multiReference.bleu[k], 12));
    expect(cocoRougeL(pairs).rougeL).toBeCloseTo(fx.coco.multiReference.rougeL, 12);
  });

  it("gives BLEU 1 (to pycocoevalcap's smoothing) on reports against themselves", () => {
    const got = cocoBleu(refs.map((r) => ({ hypothesis: r, references: [r] })));
    got.bleu.forEach((b, k) => expect(b).toBeCloseTo(fx.coco.selfBleu[k], 12));
  });
});

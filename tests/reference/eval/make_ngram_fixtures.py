"""Produce n-gram metric fixtures for tests/eval from the reference implementations.

Reference packages (PyPI): rouge-score 0.1.2 (Google), pycocoevalcap 1.2, nltk (Porter stemmer used by
rouge-score). Run from the repository root:

    pip install rouge-score pycocoevalcap
    python3 tests/reference/eval/make_ngram_fixtures.py

Writes tests/fixtures/eval/ngram-reference.json. Inputs: rouge-score's own test data
(google-research/google-research rouge/testdata/{target,prediction}.txt, copied under
tests/fixtures/eval/) and the first 60 IU X-ray validation reports (shared/data/iu-xray), paired
with themselves shifted by one so pairs differ.
"""
import json
import os
import re
import sys

from nltk.stem import porter
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.rouge.rouge import Rouge
from rouge_score import rouge_scorer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIX = os.path.join(ROOT, "tests", "fixtures", "eval")
IU = os.environ.get("IU_XRAY_DIR", os.path.join(ROOT, "..", "shared", "data", "iu-xray"))


def score_dict(s):
    return {"precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure}


def coco_normalize(text):
    # Same normalisation as trainer/eval/coco-normalize.ts: lowercase, keep [a-z0-9.], '.' its own token.
    t = text.lower()
    t = re.sub(r"[^a-z0-9.]+", " ", t)
    t = t.replace(".", " . ")
    return " ".join(t.split())


def main():
    out = {}
    targets = open(os.path.join(FIX, "rouge-target.txt")).read().split("\n")
    preds = open(os.path.join(FIX, "rouge-prediction.txt")).read().split("\n")
    pairs = [(t, p) for t, p in zip(targets, preds) if t or p]
    plain = rouge_scorer.RougeScorer(["rougeL", "rougeLsum"], use_stemmer=False)
    stem = rouge_scorer.RougeScorer(["rougeL", "rougeLsum"], use_stemmer=True)
    out["rougeTestdata"] = [
        {
            "target": t,
            "prediction": p,
            "plain": {k: score_dict(v) for k, v in plain.score(t, p).items()},
            "stemmed": {k: score_dict(v) for k, v in stem.score(t, p).items()},
        }
        for t, p in pairs
    ]

    reports = json.load(open(os.path.join(IU, "reports-valid.json")))
    texts = [reports[k]["report"] for k in sorted(reports)][:60]
    # Sentence-per-line versions so rougeLsum has several sentences.
    lines = [re.sub(r"(?<=\.)\s+", "\n", t) for t in texts]
    shifted = lines[1:] + lines[:1]
    rows = []
    for ref, pred in zip(lines, shifted):
        rows.append(
            {
                "reference": ref,
                "prediction": pred,
                "plain": {k: score_dict(v) for k, v in plain.score(ref, pred).items()},
                "stemmed": {k: score_dict(v) for k, v in stem.score(ref, pred).items()},
            }
        )
    out["rougeReports"] = rows

    gts = {i: [coco_normalize(r)] for i, r in enumerate(lines)}
    res = {i: [coco_normalize(p)] for i, p in enumerate(shifted)}
    # Multi-reference case: each id also gets the next-but-one report as a second reference.
    gts_multi = {i: [coco_normalize(lines[i]), coco_normalize(lines[(i + 2) % len(lines)])] for i in range(len(lines))}
    bleu, bleu_per = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_per = Rouge().compute_score(gts, res)
    bleu_m, _ = Bleu(4).compute_score(gts_multi, res, verbose=0)
    rouge_m, _ = Rouge().compute_score(gts_multi, res)
    self_bleu, _ = Bleu(4).compute_score(gts, {i: [g[0]] for i, g in gts.items()}, verbose=0)
    out["coco"] = {
        "normalizedReferences": [g[0] for g in gts.values()],
        "normalizedPredictions": [r[0] for r in res.values()],
        "bleu": bleu,
        "bleuPerReport": [list(map(float, x)) for x in bleu_per],
        "rougeL": float(rouge),
        "rougeLPerReport": [float(x) for x in rouge_per],
        "multiReference": {"extraOffset": 2, "bleu": bleu_m, "rougeL": float(rouge_m)},
        "selfBleu": self_bleu,
    }

    stemmer = porter.PorterStemmer()
    words = set()
    for r in reports.values():
        words.update(re.sub(r"[^a-z0-9]+", " ", r["report"].lower()).split())
    extra = "skies dying lying news innings proceed succeeded generalization conditional rational valency hesitancy digitizer conformabli radically differently vileli analogousli vietnamization predication operator feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate formative formalize electriciti electrical hopeful goodness revival allowance inference airliner gyroscopic adjustable defensible irritant replacement adjustment dependent adoption homologou communism activate angulariti homologous effective bowdlerize probate rate cease controll roll caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled sized hopping tanned falling hissing fizzed failing filing happy sky fully logically analogi phraseology yay syzygy quietly".split()
    words.update(extra)
    out["porter"] = {w: stemmer.stem(w) for w in sorted(words)}

    with open(os.path.join(FIX, "ngram-reference.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", os.path.join(FIX, "ngram-reference.json"), file=sys.stderr)


if __name__ == "__main__":
    main()

"""Fit the reader's calibration, and write it into assistant/read/reader_model/reader.json: `make reader` runs it
after evals/train_reader.py.

The calibration turns the reader's scores for an answer into `confidence`, the probability that the answer is
right, and sets `min_confidence` (abstain below it) and `confident_answer` (below it: "low confidence").
It is fit on training data only: SQuAD 2.0 dev's CALIBRATION_ARTICLES (never trained on), ingested as reports
beside the TRAIN_ARTICLES (which compete in retrieval, as other reports do), and asked through the product's
own path: retrieval, the reader's rerank, the reader's ranking, the answerer's choice of sentences. An answer
is right when a chosen sentence holds the reference answer; an unanswerable question has no right answer.

Feature sets (assistant/read/answer.py: answer_features) are compared by 5-fold cross-validated log loss on those
questions, and the best is kept: that is the ablation reported in docs/reader.md. min_confidence maximises
balanced accuracy between the questions that should be answered (a right answer is there) and the others.

  .venv/bin/python evals/calibrate_reader.py [--reader assistant/read/reader_model] [--store .reader-work/calibration]
      [--questions 400]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

from train_reader import CALIBRATION_ARTICLES, SQUAD_DEV2, TRAIN_ARTICLES, title_of  # noqa: E402

FEATURE_SETS = {
    "reader": ["top_logit"],
    "reader + lead": ["top_logit", "lead"],
    "reader + focus_miss": ["top_logit", "focus_miss"],
    "reader + lead + focus_miss": ["top_logit", "lead", "focus_miss"],
    "reader + all cheap features": ["top_logit", "lead", "focus_miss", "type_miss", "figure_miss", "terms", "coverage"],
}
SEED = 13
PARSIMONY = 0.005  # log loss; the feature sets above are in order of size


def reports(articles: list[dict]) -> list[dict]:
    """One report per article: its paragraphs, in order."""
    return [{"id": f"squad-{a['title'].lower()}", "title": title_of(a["title"]),
             "body": "\n\n".join(p["context"] for p in a["paragraphs"])} for a in articles]


def questions(articles: list[dict], n: int, seed: int) -> list[dict]:
    """Up to n answerable and n unanswerable questions of `articles`, seeded."""
    rng = random.Random(seed)
    qs = [{"question": q["question"], "answers": [a["text"] for a in q["answers"]],
           "answerable": not q["is_impossible"]} for a in articles for p in a["paragraphs"] for q in p["qas"]]
    rng.shuffle(qs)
    return [q for q in qs if q["answerable"]][:n] + [q for q in qs if not q["answerable"]][:n]


def collect(assistant, cases: list[dict]) -> list[dict]:
    """Each question's answer features, as the product computes them, and whether its answer is right."""
    from tqdm import tqdm

    from assistant.read.answer import answer_features

    answerer = assistant.answerer
    rows = []
    for case in tqdm(cases, desc="calibration questions", file=sys.stderr):
        passages, texts, infos = assistant.passages(case["question"])
        ranked = answerer.score(case["question"], passages, texts, {d: i.title for d, i in infos.items()},
                                {d: i.date for d, i in infos.items()})
        if not ranked:
            continue
        chosen = " ".join(s.text for s in answerer._choose(ranked)).lower()
        right = case["answerable"] and any(a.lower() in chosen for a in case["answers"])
        rows.append({**answer_features(ranked), "right": bool(right), "answerable": case["answerable"]})
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression on standardised features, written back as weights on the raw features."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / std, y)
    weights = model.coef_[0] / std
    return weights, float(model.intercept_[0] - (weights * mean).sum())


def predict(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x @ weights + bias, -30, 30)))


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities."""
    order = np.random.default_rng(SEED).permutation(len(y))
    out = np.zeros(len(y))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        out[test] = predict(x[test], *fit_logistic(x[train], y[train]))
    return out


def balanced_accuracy(p: np.ndarray, should_answer: np.ndarray, threshold: float) -> float:
    answered = p >= threshold
    return float((answered[should_answer].mean() + (~answered[~should_answer]).mean()) / 2)


def fit(rows: list[dict]) -> dict:
    from assistant.evaluation.metrics import auroc

    y = np.array([r["right"] for r in rows])
    ablation = {}
    for name, features in FEATURE_SETS.items():
        x = np.array([[r[f] for f in features] for r in rows], dtype=float)
        p = cross_validated(x, y)
        loss = -np.mean(y * np.log(np.clip(p, 1e-9, 1)) + (~y) * np.log(np.clip(1 - p, 1e-9, 1)))
        ablation[name] = {"log_loss": round(float(loss), 4), "auroc": round(auroc(p, y), 4)}
    # The fewest features within PARSIMONY of the lowest log loss: differences smaller than that flip from one
    # fit to the next (a weight of either sign on the same feature), and a feature that does not pay is left out.
    lowest = min(v["log_loss"] for v in ablation.values())
    best = next(n for n in FEATURE_SETS if ablation[n]["log_loss"] <= lowest + PARSIMONY)
    features = FEATURE_SETS[best]
    x = np.array([[r[f] for f in features] for r in rows], dtype=float)
    weights, bias = fit_logistic(x, y)
    p = predict(x, weights, bias)
    thresholds = np.round(np.arange(0.05, 0.96, 0.01), 2)
    min_confidence = float(max(thresholds, key=lambda t: balanced_accuracy(p, y, t)))
    answerable = np.array([r["answerable"] for r in rows])
    answered = p >= min_confidence
    return {"features": features, "weights": [round(float(w), 5) for w in weights], "bias": round(bias, 5),
            "min_confidence": min_confidence, "confident_answer": max(0.5, min_confidence),
            "fit": {"questions": len(rows), "answerable": int(answerable.sum()), "right": int(y.sum()),
                    "chosen": best, "ablation": ablation,
                    "answerable_answered_right": round(float((answered & y).sum() / max(1, answerable.sum())), 3),
                    "unanswerable_abstained": round(float((~answered[~answerable]).mean()), 3)}}


CARD = """# The reader: does this sentence answer the question?

Written by `evals/calibrate_reader.py` from `reader.json` (the last step of `make reader`): the figures below are
the ones the training run printed. How the product uses the reader: [docs/reader.md](../../docs/reader.md).

## What it is
A cross-encoder: (question, one sentence of a report followed by `[SEP]`, its report's title and the last
{previous_words} words of the sentence before it) in, one log-odds out: that the sentence answers the question.
It is [all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2) (6 layers, 384 wide,
Apache-2.0), the weights the `{base_package}=={base_version}` package ships, fine-tuned here. The word embeddings
were frozen in training, so `reader.safetensors` holds only what training changed, in fp16 ({size_mb:.1f} MB);
the word embeddings are read from the package at load time, after its weights' sha256 is checked
(`{base_sha}...`). It runs in fp32; int8 linear layers (`reader_int8`) are about twice as fast, but torch
quantizes activations per batch, so a score then depends on the other sentences read with it.

## Training data
- **SQuAD 1.1 train** (Rajpurkar et al., 2016; CC BY-SA 4.0): {squad_questions} questions a round, a fresh
  seeded sample each round, each against the sentences of its paragraph: the answer's sentence is the
  positive, two other sentences of the paragraph hard negatives, and for 30% of them a sentence of another
  article an easy one. Questions whose answer occurs twice in the paragraph, or crosses a sentence end, are
  skipped.
- **SQuAD 2.0 dev** (Rajpurkar, Jia & Liang, 2018; CC BY-SA 4.0), 16 of the 25 articles in `../shared`
  (the list is fixed in `evals/train_reader.py`): the same, and each unanswerable question (written to look
  answerable) against three sentences of its paragraph, all negatives.
- **MultiHop-RAG** (Tang & Yang, 2024; ODC-BY): each question's evidence facts from news articles as
  positives, facts of other questions on the same article as negatives, its unanswerable questions against
  the facts sharing most of their words.
- **Entity-swapped twins** (round 2 only): for 30% of the answerable SQuAD questions, the question with one
  name or figure its answer sentence holds replaced by another of the same article, against that sentence,
  as a negative: it still looks answerable, and the sentence no longer answers it.

{rounds}

Round 2 starts from round 1's weights. Batch 32, linear decay with 5% warm-up, binary cross-entropy, seed
{seed}, on 2 CPU cores ({minutes} minutes in all). Nothing from `corpus/`, `evals/sets/`, DragonBall or
RealTimeQA was trained, fit or tuned on.

## Figures on SQuAD 2.0 dev articles nothing was trained or fit on
{held_articles}: {questions} questions ({answerable} answerable), each against every sentence of its paragraph.

| weights | top sentence holds the answer | answerability AUROC (best score) | pair accuracy |
|---|---|---|---|
| fp32 (default) | {fp32_top1} | {fp32_auroc} | {fp32_pairs} |
| int8 | {int8_top1} | {int8_auroc} | {int8_pairs} |

## Calibration
`confidence` is a logistic model over {features}, fit on {cal_questions} questions of four other SQuAD 2.0
dev articles ({cal_articles}), asked through the product (retrieval, rerank, the answerer's choice) over
those articles and the 16 training articles as reports. An answer is right when a sentence it cites holds the
reference. `min_confidence` = {min_confidence} (abstain below), `confident_answer` = {confident_answer}.
On those questions: {cal_right} of answerable questions answered right, {cal_abstained} of unanswerable ones
abstained on. Feature sets compared by 5-fold cross-validated log loss (lower is better); the one with the
fewest features within {parsimony} of the lowest is kept:

| features | log loss | AUROC |
|---|---|---|
{ablation}

## Limits
- Trained on Wikipedia (SQuAD) and on short news facts (MultiHop-RAG), in **English** only; reports in other
  languages, tables and long legal or financial sentences are outside what it saw.
- It judges one sentence at a time (with the one before it): an answer spread over several sentences, or a
  sum or comparison across reports, is beyond it.
- Its confidence is calibrated on Wikipedia questions; on news and on questions phrased unlike SQuAD's it
  may be over- or under-confident: the evaluation sets' reliability plots show by how much.

## Licences
The fine-tuned weights are derived from all-MiniLM-L6-v2 (Apache-2.0) and trained on SQuAD (CC BY-SA 4.0,
attribute: Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine Comprehension of Text", 2016, and
Rajpurkar, Jia & Liang, "Know What You Don't Know: Unanswerable Questions for SQuAD", 2018) and MultiHop-RAG
(ODC-BY, attribute: Tang & Yang, "MultiHop-RAG: Benchmarking Retrieval-Augmented Generation for Multi-Hop
Queries", 2024).
"""


def rounds_table(rounds: list[dict]) -> str:
    rows = [f"| {i} | {r['pairs']} ({r['positives']} positive) | {r['learning_rate']:g} | {r['swap_share']:.0%} | "
            f"{r['minutes']} |" for i, r in enumerate(rounds, 1)]
    return "\n".join(["| round (one epoch each) | pairs | learning rate | swapped twins | minutes |",
                      "|---|---|---|---|---|", *rows])


def write_card(folder: Path) -> None:
    """The model card, README.md beside the weights, from reader.json: its figures are the run's."""
    from assistant.read.reader import META_FILE, PREVIOUS_WORDS, WEIGHTS_FILE

    meta = json.loads((folder / META_FILE).read_text())
    training, held, cal = meta["training"], meta["held_out"], meta["calibration"]
    ablation = "\n".join(f"| {name}{' (kept)' if name == cal['fit']['chosen'] else ''} | {v['log_loss']} | "
                         f"{v['auroc']} |" for name, v in cal["fit"]["ablation"].items())
    (folder / "README.md").write_text(CARD.format(
        previous_words=PREVIOUS_WORDS, base_package=meta["base_package"], base_version=meta["base_version"],
        base_sha=meta["base_sha256"][:16], size_mb=(folder / WEIGHTS_FILE).stat().st_size / 1e6,
        squad_questions=training["squad_questions_per_round"], rounds=rounds_table(training["rounds"]),
        seed=training["seed"], minutes=training["minutes"], held_articles=", ".join(held["articles"]),
        questions=held["int8"]["questions"], answerable=held["int8"]["answerable"],
        **{f"{w}_{k}": held[w][m] for w in ("fp32", "int8") for k, m in
           (("top1", "top1_holds_answer"), ("auroc", "answerability_auroc"), ("pairs", "pair_accuracy"))},
        features=", ".join(f"`{f}`" for f in cal["features"]), cal_questions=cal["fit"]["questions"],
        cal_articles=", ".join(CALIBRATION_ARTICLES), min_confidence=cal["min_confidence"],
        confident_answer=cal["confident_answer"], cal_right=cal["fit"]["answerable_answered_right"],
        cal_abstained=cal["fit"]["unanswerable_abstained"], ablation=ablation, parsimony=PARSIMONY))


def collect_all(reader: Path, store: Path, n: int) -> list[dict]:
    """The calibration articles and the training articles ingested as reports into `store`; the features of
    n answerable and n unanswerable questions of the calibration articles."""
    from assistant import Assistant
    from assistant.settings import load_settings

    dev = {a["title"]: a for a in json.loads(SQUAD_DEV2.read_text(encoding="utf-8"))["data"]}
    assistant = Assistant(settings=load_settings(store=store, reader_model=reader))
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "squad-calibration.jsonl"
        archive.write_text("".join(json.dumps(r) + "\n" for r in reports(
            [dev[t] for t in CALIBRATION_ARTICLES + TRAIN_ARTICLES])))
        report = assistant.ingest([archive])
        if report.failed:
            raise SystemExit(f"calibration store: {report.failed} reports failed")
    return collect(assistant, questions([dev[t] for t in CALIBRATION_ARTICLES], n, SEED))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader", type=Path, default=ROOT / "assistant" / "reader_model")
    parser.add_argument("--store", type=Path, default=ROOT / ".reader-work" / "calibration")
    parser.add_argument("--questions", type=int, default=400, help="answerable, and as many unanswerable")
    parser.add_argument("--rows", type=Path, default=None, help="keep the features of every question here")
    parser.add_argument("--refit", type=Path, default=None, help="fit again from the features kept by --rows")
    args = parser.parse_args(argv)
    from assistant.read.reader import META_FILE

    if args.refit:  # the questions' features as a previous run kept them (--rows): only the fit is done again
        rows = [json.loads(line) for line in args.refit.read_text().splitlines() if line.strip()]
    else:
        rows = collect_all(args.reader, args.store, args.questions)
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows))
    calibration = fit(rows)
    meta_path = args.reader / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["calibration"] = calibration
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    write_card(args.reader)
    print(json.dumps(calibration, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

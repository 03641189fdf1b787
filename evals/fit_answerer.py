"""Fit the extractive answerer's two models, and write assistant/answerer_model.json.

Training data:
- MultiHop-RAG (../shared/data/multihop_rag/queries.jsonl): questions with the news sentences that
  answer them (6,084 evidence facts from 609 articles). No figure the project reports is measured on it.
  The facts are put back together as one short report per article and ingested into a store of their
  own. A seeded sample of answerable questions is asked twice: as they are, and with the articles that
  answer them left out of retrieval (a near-topic question the reports do not answer: the kind a
  journalist asks, which MultiHop's own unanswerable questions, on topics absent from the corpus, are
  too easy to teach), plus some of those unanswerable questions.
- Evaluation sets given with --set NAME SET.jsonl STORE (their stores built beforehand). Their figures
  must then be reported from models that did not see them: --folds DIR writes one model per set, fit
  on MultiHop-RAG and the sets of other corpora (leave one corpus out), to run `eval run` with
  (setting `answerer_model`).

Each question is asked as `Assistant.ask` would: retrieval, then every sentence of the passages with its
features (assistant/answer.py). A sentence is a positive when it is one of the question's facts (or holds
its reference answer, or overlaps its evidence). The ranker, a logistic regression on sentence features,
is fit first; with it, each question's answer is chosen as the answerer chooses it, and is right when a
chosen sentence is a positive (never for a question nothing answers). The confidence model, a logistic
regression on the answer's features, is fit on those. min_confidence maximises balanced accuracy on the
training questions (answerable ones answered, unanswerable ones abstained on); confident_answer is 0.5
(more likely right than wrong) or min_confidence, whichever is higher.

  .venv/bin/python evals/fit_answerer.py [--store DIR] [--answerable 500] [--unanswerable 150] [--ablated 500] \
      [--set corpus evals/sets/corpus.jsonl STORE ...] [--folds DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = ROOT.parent / "shared" / "data" / "multihop_rag" / "queries.jsonl"
SENTENCE_FEATURES = ["cos", "terms", "terms_near", "cos_terms", "coverage", "type_match", "type_miss", "figure_miss",
                     "unit_match", "focus_miss", "passage_rank", "length"]
ANSWER_FEATURES = ["top_logit", "focus_miss"]


def articles(rows: list[dict]) -> list[dict]:
    """One report per cited article: its facts in the order first seen, one paragraph each."""
    docs: dict[str, dict] = {}
    for row in rows:
        for e in row["evidence"]:
            doc = docs.setdefault(e["title"], {"id": doc_id(e["title"]),
                                               "title": e["title"], "source": e.get("source"),
                                               "date": (e.get("published_at") or "")[:10] or None, "facts": []})
            if e["text"] not in doc["facts"]:
                doc["facts"].append(e["text"])
    return [{"id": d["id"], "title": d["title"], "source": d["source"], "date": d["date"],
             "text": "\n\n".join(d["facts"])} for d in docs.values()]


def doc_id(title: str) -> str:
    return "mh-" + hashlib.sha1(title.encode()).hexdigest()[:12]


def sample(rows: list[dict], answerable: int, unanswerable: int, ablated: int, seed: int) -> list[dict]:
    """A seeded sample: answerable questions, unanswerable ones, and answerable ones asked without the
    articles that answer them (`without`: the doc ids left out)."""
    rng = np.random.default_rng(seed)
    pick = []
    for wanted, group in ((answerable, [r for r in rows if r["answerable"]]),
                          (unanswerable, [r for r in rows if not r["answerable"]])):
        index = rng.permutation(len(group))[:wanted]
        pick += [group[i] for i in sorted(index)]
    for row in pick[:ablated]:
        pick.append({**row, "id": row["id"] + "-without", "answerable": False, "evidence": [],
                     "without": sorted({doc_id(e["title"]) for e in row["evidence"]})})
    return pick


def is_positive(sentence: str, case: dict) -> bool:
    """Does this sentence answer the case? It holds a short reference answer, or it is (most of) one of
    its evidence texts."""
    from assistant.evaluation import metrics

    if not case["answerable"]:
        return False
    references = [r for r in [case.get("reference_answer", ""), *case.get("answer_aliases", [])] if r]
    short = [r for r in references if len(metrics.normalize_answer(r).split()) <= metrics.SHORT_REFERENCE]
    if short:
        return bool(metrics.contains_answer(sentence, short))
    return any(metrics.quote_overlaps(sentence, e["text"]) for e in case["evidence"] if e.get("text"))


def collect(assistant, cases: list[dict], group: str, progress: bool = True) -> list[dict]:
    """Per question: every candidate sentence's features and whether it answers the question."""
    from tqdm import tqdm

    from assistant.models import Filters

    every = [d.doc_id for d in assistant.documents()]
    out = []
    for case in tqdm(cases, desc=group, unit="q", disable=not progress, file=sys.stderr):
        query_vector = np.asarray(assistant.embed_model.get_query_embedding(case["question"]), dtype=np.float32)
        filters = Filters(doc_ids=[d for d in every if d not in case["without"]]) if case.get("without") else None
        passages = assistant.retriever.retrieve(case["question"], query_vector.tolist(), assistant.settings.top_k,
                                                filters)
        texts = assistant.store.texts(p.doc_id for p in passages)
        infos = {d: assistant.store.document(d) for d in texts}
        ranked = assistant.answerer.score(case["question"], query_vector, passages, texts,
                                          {d: i.title for d, i in infos.items()}, {d: i.date for d, i in infos.items()})
        out.append({"id": case["id"], "group": group, "answerable": case["answerable"],
                    "sentences": [{"features": s.features, "coverage": s.coverage, "doc_id": s.doc_id,
                                   "text": s.text, "start": s.start, "unmet": s.unmet,
                                   "positive": is_positive(s.text, case)}
                                  for s in ranked]})
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, names: list[str], c: float = 1.0) -> dict:
    """Logistic regression on standardised features, written back as weights on the raw features."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / std, y)
    weights = model.coef_[0] / std
    bias = float(model.intercept_[0] - (weights * mean).sum())
    return {"features": names, "weights": [round(float(w), 5) for w in weights], "bias": round(bias, 5)}


def matrix(rows: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[r[n] for n in names] for r in rows], dtype=float)


def answer_rows(questions: list[dict], ranker: dict) -> list[dict]:
    """Each question's answer features under `ranker`, and whether the answer it gives is right."""
    from assistant.answer import ExtractiveAnswerer, Logistic, Sentence, answer_features, rank_key

    logistic = Logistic(**ranker)
    rows = []
    for q in questions:
        if not q["sentences"]:
            continue
        ranked = []
        for s in q["sentences"]:
            sentence = Sentence(s["doc_id"], s["start"], s["start"] + len(s["text"]), s["text"], None,
                                features=s["features"], logit=logistic.logit(s["features"]), coverage=s["coverage"])
            sentence.positive, sentence.unmet = s["positive"], s.get("unmet", False)
            ranked.append(sentence)
        ranked.sort(key=rank_key)
        chosen = ExtractiveAnswerer._choose_from(ranked, max_sentences=3)
        rows.append({**answer_features(ranked), "right": any(s.positive for s in chosen),
                     "answerable": q["answerable"], "group": q["group"]})
    return rows


def balanced_accuracy(confidence: np.ndarray, answerable: np.ndarray, threshold: float) -> float:
    answered = confidence >= threshold
    return float((answered[answerable].mean() + (~answered[~answerable]).mean()) / 2)


def fit(questions: list[dict]) -> dict:
    """The ranker, the confidence model and the thresholds, fit on `questions`."""
    sentences = [s for q in questions for s in q["sentences"]]
    ranker = fit_logistic(matrix([s["features"] for s in sentences], SENTENCE_FEATURES),
                          np.array([s["positive"] for s in sentences]), SENTENCE_FEATURES)
    answers = answer_rows(questions, ranker)
    confidence = fit_logistic(matrix(answers, ANSWER_FEATURES), np.array([r["right"] for r in answers]),
                              ANSWER_FEATURES)
    w, b = np.array(confidence["weights"]), confidence["bias"]
    p = 1 / (1 + np.exp(-(matrix(answers, ANSWER_FEATURES) @ w + b)))
    answerable = np.array([r["answerable"] for r in answers])
    # Each training set counts the same, however many questions it has: the threshold should suit a new
    # set of questions, not the mix of the biggest one.
    group = np.array([r["group"] for r in answers])
    sets = [g for g in dict.fromkeys(group) if 0 < answerable[group == g].sum() < (group == g).sum()]
    thresholds = np.round(np.arange(0.05, 0.96, 0.01), 2)
    min_confidence = float(max(thresholds, key=lambda t: np.mean(
        [balanced_accuracy(p[group == g], answerable[group == g], t) for g in sets])))
    return {"ranker": ranker, "confidence": confidence, "min_confidence": min_confidence,
            "confident_answer": max(0.5, min_confidence),
            "provenance": {"questions": dict(Counter(q["group"] for q in questions)),
                           "sentences": len(sentences),
                           "train_balanced_accuracy": round(balanced_accuracy(p, answerable, min_confidence), 3)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--store", type=Path, default=None, help="MultiHop-RAG work store (default: under /tmp)")
    parser.add_argument("--answerable", type=int, default=500)
    parser.add_argument("--unanswerable", type=int, default=150)
    parser.add_argument("--ablated", type=int, default=500,
                        help="answerable questions also asked without their articles")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs=3, action="append", default=[], metavar=("NAME", "SET", "STORE"),
                        help="an evaluation set to fit on too, with the store that holds its corpus")
    parser.add_argument("--folds", type=Path, default=None,
                        help="also write one model per --set, fit without the sets of its corpus")
    parser.add_argument("--cache", type=Path, default=None, help="keep the collected features here (JSONL)")
    parser.add_argument("--out", type=Path, default=ROOT / "assistant" / "answerer_model.json")
    args = parser.parse_args()
    if not args.queries.is_file():
        print(f"fit_answerer: {args.queries} not found (it is in ../shared/)", file=sys.stderr)
        return 2

    from assistant.core import Assistant
    from assistant.evaluation.run import load_set
    from assistant.settings import load_settings, offline_environment

    offline_environment()
    questions = []
    if args.cache and args.cache.is_file():
        questions = [json.loads(line) for line in args.cache.read_text(encoding="utf-8").splitlines()]
    done = {q["group"] for q in questions}
    if "multihop" not in done:
        rows = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
        store = args.store or Path(tempfile.gettempdir()) / "fit-answerer-store"
        store.parent.mkdir(parents=True, exist_ok=True)
        work = store.parent / f"{store.name}-articles.jsonl"
        work.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles(rows)), encoding="utf-8")
        assistant = Assistant(store=store, settings=load_settings(store=store))
        assistant.ingest([work], progress=True)
        questions += collect(assistant, sample(rows, args.answerable, args.unanswerable, args.ablated, args.seed),
                             "multihop")
    for name, set_path, store in args.set:
        if name not in done:
            cases = [c.model_dump() for c in load_set(set_path)]
            questions += collect(Assistant(store=store, settings=load_settings(store=store)), cases, name)
    if args.cache:
        args.cache.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")

    provenance = {"fit_on": "MultiHop-RAG (Tang & Yang, 2024; ODC-BY)" + "".join(f", {n}" for n, *_ in args.set),
                  "script": "evals/fit_answerer.py", "seed": args.seed,
                  "queries_sha256": hashlib.sha256(args.queries.read_bytes()).hexdigest(),
                  "sample": {"answerable": args.answerable, "unanswerable": args.unanswerable,
                             "ablated": args.ablated}}
    model = fit(questions)
    model["provenance"] = {**provenance, **model["provenance"]}
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: {json.dumps(model['provenance'])}; min_confidence {model['min_confidence']}")
    if args.folds:
        # Leave one corpus out: sets asked of the same corpus (the same facts, other wordings) go together.
        args.folds.mkdir(parents=True, exist_ok=True)
        for store in dict.fromkeys(store for *_, store in args.set):
            names = [n for n, _, st in args.set if st == store]
            fold = fit([q for q in questions if q["group"] not in names])
            fold["provenance"] = {**provenance, **fold["provenance"], "fit_on": f"all but {', '.join(names)}"}
            for name in names:
                path = args.folds / f"without-{name}.json"
                path.write_text(json.dumps(fold, indent=1) + "\n", encoding="utf-8")
                print(f"{path}: min_confidence {fold['min_confidence']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

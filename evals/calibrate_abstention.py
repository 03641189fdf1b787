"""Calibrate the extractive answerer's abstention thresholds on questions with and without answers.

For every question of the sets, the best-scoring report sentence is found (score and question-term
coverage, see assistant/answer.py); an answerable question counts as answered well when one of the
top sentences holds the reference answer. A grid search then picks (min_answer_score,
min_question_coverage) that maximise balanced accuracy: the mean of (answerable questions answered)
and (unanswerable questions abstained on).

  .venv/bin/python evals/calibrate_abstention.py --store DIR --ingest corpus \
      --set evals/sets/corpus_questions.jsonl [--set ../shared/data/dragonball_finance_en/qa.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def best_candidates(assistant, questions: list[dict]) -> list[dict]:
    rows = []
    for q in questions:
        qv = np.asarray(assistant.embed_model.get_query_embedding(q["question"]), dtype=np.float32)
        passages = assistant.retriever.retrieve(q["question"], qv.tolist(), assistant.settings.top_k)
        texts = assistant.store.texts(p.doc_id for p in passages)
        infos = {doc_id: assistant.store.document(doc_id) for doc_id in texts}
        ranked = assistant.answerer.score(q["question"], qv, passages, texts,
                                          {d: i.title for d, i in infos.items()}, {d: i.date for d, i in infos.items()})
        best = ranked[0] if ranked else None
        answers = [a for a in [q.get("reference_answer", ""), *q.get("answer_aliases", [])] if a]
        holds = bool(best) and any(norm(a) in norm(best.text) for a in answers)
        _, selected = assistant.answerer.answer(q["question"], qv, passages, texts,
                                                {d: i.title for d, i in infos.items()},
                                                {d: i.date for d, i in infos.items()})
        cited = any(norm(a) in norm(s.sentence.text) for a in answers for s in selected)
        rows.append({"id": q["id"], "answerable": q["answerable"], "score": best.score if best else 0.0,
                     "coverage": best.coverage if best else 0.0, "holds_answer": holds, "cited": cited,
                     "sentence": best.text[:160] if best else ""})
    return rows


def balanced_accuracy(rows: list[dict], min_score: float, min_coverage: float) -> tuple[float, float, float]:
    def answers(r):
        return r["score"] >= min_score and r["coverage"] >= min_coverage

    pos = [r for r in rows if r["answerable"]]
    neg = [r for r in rows if not r["answerable"]]
    answered = sum(answers(r) for r in pos) / max(len(pos), 1)
    abstained = sum(not answers(r) for r in neg) / max(len(neg), 1)
    return (answered + abstained) / 2, answered, abstained


def main() -> None:
    from assistant import Assistant

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--ingest", nargs="*", default=[])
    parser.add_argument("--set", action="append", required=True, dest="sets")
    parser.add_argument("--limit", type=int, default=0, help="questions per set (0: all)")
    args = parser.parse_args()

    assistant = Assistant(store=args.store)
    if args.ingest:
        assistant.ingest(args.ingest)
    rows = []
    for path in args.sets:
        questions = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        rows += best_candidates(assistant, questions[: args.limit or None])
    grid = [(balanced_accuracy(rows, s, c), s, c) for s in np.arange(0.30, 0.80, 0.01)
            for c in (0.34, 0.4, 0.5, 0.6, 0.67, 0.75)]
    (best, answered, abstained), score, coverage = max(grid, key=lambda g: (g[0][0], -abs(g[1] - 0.5)))
    current = balanced_accuracy(rows, assistant.settings.min_answer_score, assistant.settings.min_question_coverage)
    for r in sorted(rows, key=lambda r: -r["score"]):
        mark = ("ok " if r["holds_answer"] else "   ") if r["answerable"] else "NO "
        print(f"{mark}{r['score']:.3f} cov={r['coverage']:.2f} {r['id']:<18} {r['sentence'][:90]}")
    print(f"\nquestions: {sum(r['answerable'] for r in rows)} answerable, {sum(not r['answerable'] for r in rows)} not")
    print(f"current  min_answer_score={assistant.settings.min_answer_score} "
          f"min_question_coverage={assistant.settings.min_question_coverage}: balanced accuracy {current[0]:.3f} "
          f"(answered {current[1]:.3f}, abstained {current[2]:.3f})")
    answerable = [r for r in rows if r["answerable"]]
    print(f"with the current settings, {sum(r['cited'] for r in answerable)} of {len(answerable)} answerable "
          "questions cite a sentence that holds the reference answer")
    print(f"best     min_answer_score={score:.2f} min_question_coverage={coverage}: balanced accuracy {best:.3f} "
          f"(answered {answered:.3f}, abstained {abstained:.3f})")


if __name__ == "__main__":
    main()

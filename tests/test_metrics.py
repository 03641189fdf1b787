"""Metrics on hand-made cases where the right value is known."""

import pytest

from assistant.evaluation import metrics as m


def test_squad_normalisation_and_answer_scores():
    assert m.normalize_answer("The  Vostochny Cosmodrome!") == "vostochny cosmodrome"
    assert m.exact_match("the Vostochny Cosmodrome.", ["Vostochny Cosmodrome"]) == 1.0
    assert m.exact_match("Vostochny", ["Vostochny Cosmodrome"]) == 0.0
    # pred: seven days long (3 tokens); gold: seven days (2): common 2, P 2/3, R 1, F1 0.8
    assert m.token_f1("seven days long", ["seven days"]) == pytest.approx(0.8)
    assert m.token_f1("nothing", ["seven days"]) == 0.0
    assert m.token_f1("x", ["seven days", "x"]) == 1.0
    assert m.contains_answer("Satellite images showed 73 freight cars.", ["73"]) == 1.0
    assert m.contains_answer("Satellite images showed 730 freight cars.", ["73"]) == 0.0


def passages(*items):
    return [{"doc_id": d, "text": t} for d, t in items]


def test_evidence_match_needs_the_document_and_the_text():
    assert m.passage_supports("a", "Intro. The study found 73 cars. More.", "a", "the study found 73 cars")
    assert not m.passage_supports("b", "The study found 73 cars.", "a", "The study found 73 cars.")
    assert m.passage_supports("a", "anything at all", "a", "")  # only the document is known
    # 4 of 5 tokens present (0.8 >= 0.6) counts; 2 of 5 does not
    assert m.passage_supports("a", "study found 73 freight", None, "study found 73 freight cars")
    assert not m.passage_supports("a", "study found nothing", None, "study found 73 freight cars")


def test_retrieval_metrics_known_values():
    evidence = [{"doc_id": "a", "text": "alpha fact"}, {"doc_id": "b", "text": "beta fact"}]
    ranked = passages(("x", "noise"), ("a", "the alpha fact here"), ("y", "noise"), ("b", "beta fact"))
    r = m.retrieval_metrics(ranked, evidence)
    assert r["hit@1"] == 0.0 and r["hit@3"] == 1.0
    assert r["recall@1"] == 0.0 and r["recall@3"] == 0.5 and r["recall@5"] == 1.0 and r["recall@10"] == 1.0
    assert r["mrr@10"] == 0.5
    # relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    import math

    assert r["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert m.retrieval_metrics(ranked, []) == {}


def test_budget_recall_cuts_the_last_passage():
    evidence = [{"doc_id": "a", "text": "needle"}, {"doc_id": "b", "text": "thread"}]
    ranked = passages(("a", "x" * 10 + " needle"), ("b", "y" * 30 + " thread"))
    assert m.budget_recall(ranked, evidence, 17) == 0.5  # 'xxxxxxxxxx needle' is 17 characters
    assert m.budget_recall(ranked, evidence, 16) == 0.0
    assert m.budget_recall(ranked, evidence, 17 + 31) == 0.5  # thread's last letter is cut off
    assert m.budget_recall(ranked, evidence, 17 + 38) == 1.0


def test_citation_metrics():
    texts = {"a": "Kim met Putin. They met at Vostochny.", "b": "Other text."}
    answer = {"citations": [
        {"doc_id": "a", "quote": "They met at Vostochny.", "start": 15, "end": 37},
        {"doc_id": "b", "quote": "Wrong offsets", "start": 0, "end": 5},
    ]}
    c = m.citation_metrics(answer, texts, [{"doc_id": "a", "text": ""}], ["Vostochny"])
    assert c == {"has_citation": 1.0, "quote_exact": 0.5, "cited_evidence_doc": 0.5, "quote_holds_answer": 0.5}
    assert m.citation_metrics({"citations": []}, texts, [], ["x"]) == {"has_citation": 0.0}


def test_percentile():
    assert m.percentile([5, 1, 3, 2, 4], 50) == 3
    assert m.percentile(list(range(1, 101)), 95) == 95
    assert m.percentile([], 50) == 0.0

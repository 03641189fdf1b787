"""assistant/evaluation/metrics.py: Metrics on hand-made cases where the right value is known."""

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


def test_a_quote_overlaps_evidence_inside_around_or_by_most_words():
    evidence = "Satellite images showed 73 freight cars at Tumangang station."
    assert m.quote_overlaps("satellite images showed 73 freight cars", evidence)  # quote inside the evidence
    assert m.quote_overlaps(f"Analysts said: {evidence} It was a record.", evidence)  # evidence inside the quote
    # the shorter (5 words) shares 3 with the longer: 0.6 counts; 2 of 5 does not
    assert m.quote_overlaps("showed 73 cars near Rajin", evidence)
    assert not m.quote_overlaps("showed 73 trucks near Rajin", evidence)
    assert not m.quote_overlaps("", evidence) and not m.quote_overlaps(evidence, "")


def test_cites_evidence():
    evidence = [{"doc_id": "a", "text": "They met at Vostochny."}, {"doc_id": "b", "text": "Another fact."}]
    cited = {"citations": [{"doc_id": "c", "quote": "Kim and Putin: they met at Vostochny!", "start": 0, "end": 0}]}
    other = {"citations": [{"doc_id": "a", "quote": "Kim met Putin.", "start": 0, "end": 14}]}
    assert m.citation_metrics(cited, {}, evidence, [])["cites_evidence"] == 1.0  # any document: a wire copy counts
    assert m.citation_metrics(other, {}, evidence, [])["cites_evidence"] == 0.0
    assert m.citation_metrics({"citations": []}, {}, evidence, []) == {"has_citation": 0.0, "cites_evidence": 0.0}
    assert "cites_evidence" not in m.citation_metrics(cited, {}, [{"doc_id": "a", "text": ""}], [])


def test_right_label_in_each_case():
    refs, long_refs = ["73", "seventy-three"], ["The images showed 73 freight cars at the station that week."]
    # unanswerable: an abstention is right, an answer wrong
    assert m.is_right(False, True, "", [], None) is True
    assert m.is_right(False, False, "Some sentence.", [], 1.0) is False
    # answerable: an abstention is wrong; a short reference must be in the answer, whatever is cited
    assert m.is_right(True, True, "", refs, None) is False
    assert m.is_right(True, False, "It showed 73 cars.", refs, 0.0) is True
    assert m.is_right(True, False, "It showed 730 cars.", refs, 1.0) is False
    # no short reference (or none at all): the citations decide, and unjudged without evidence text
    assert m.is_right(True, False, "Cars were seen.", long_refs, 1.0) is True
    assert m.is_right(True, False, "Cars were seen.", long_refs, 0.0) is False
    assert m.is_right(True, False, "Cars were seen.", long_refs, None) is None
    assert m.is_right(True, False, "Cars were seen.", [], 1.0) is True
    assert m.is_right(True, False, long_refs[0], long_refs, 0.0) is True  # a long reference quoted whole
    # what confidence estimates: the best answer, given or held back
    assert m.best_answer_right(True, False, True) is True and m.best_answer_right(False, False, False) is False
    assert m.best_answer_right(False, True, True) is False  # held back on an unanswerable question: wrong
    assert m.best_answer_right(True, True, False) is None  # held back on an answerable one: not recorded


def test_auroc_known_values():
    assert m.auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert m.auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert m.auroc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    # pairs (right, wrong): (0.9, 0.5) 1, (0.9, 0.1) 1, (0.5, 0.5) a half, (0.5, 0.1) 1: 3.5 / 4
    assert m.auroc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == 0.875
    assert m.auroc([0.9, 0.1], [True, True]) is None and m.auroc([], []) is None


def test_auroc_equals_counting_pairs():
    import random
    from itertools import product

    rng = random.Random(7)
    confidences = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9]) for _ in range(40)]
    labels = [rng.random() < 0.5 for _ in range(40)]
    right = [c for c, label in zip(confidences, labels) if label]
    wrong = [c for c, label in zip(confidences, labels) if not label]
    pairs = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in product(right, wrong)]
    assert m.auroc(confidences, labels) == pytest.approx(sum(pairs) / len(pairs))


def test_reliability_table_and_calibration_error():
    table = m.reliability([0.05, 0.15, 0.15, 0.95, 1.0], [False, True, False, True, True])
    assert len(table) == 10 and [row["count"] for row in table] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 in the last
    assert table[1] == {"low": 0.1, "high": 0.2, "count": 2, "confidence": pytest.approx(0.15), "accuracy": 0.5}
    assert table[2]["confidence"] is None and table[2]["accuracy"] is None
    # gaps 0.05, 0.35 and 0.025, weighted 1/5, 2/5, 2/5
    assert m.calibration_error(table) == pytest.approx(0.05 / 5 + 0.35 * 2 / 5 + 0.025 * 2 / 5)
    assert m.calibration_error(m.reliability([0.55, 0.55], [True, False])) == pytest.approx(0.05)
    assert m.calibration_error(m.reliability([], [])) is None


def test_percentile():
    assert m.percentile([5, 1, 3, 2, 4], 50) == 3
    assert m.percentile(list(range(1, 101)), 95) == 95
    assert m.percentile([], 50) == 0.0

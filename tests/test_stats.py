"""assistant/evaluation/stats.py: Issue 18: intervals and paired tests on hand-made runs (no model): what is noise and
what is not."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.evaluation.stats import difference, interval, mcnemar, per_question, permutation


def run(hits: list[int], f1: list[float] | None = None, confidence: list[float] | None = None) -> list[dict]:
    """Records as run_eval writes them, with only the scores the statistics read."""
    out = []
    for i, hit in enumerate(hits):
        scores = {"retrieval": {"hit@10": float(hit)}, "false_abstention": 0.0, "right": bool(hit),
                  "confidence": confidence[i] if confidence else 0.5}
        if f1 is not None:
            scores["answer"] = {"f1": f1[i]}
        out.append({"id": f"q{i}", "answerable": True, "abstained": False, "scores": scores})
    return out


def test_a_constant_metric_has_a_point_interval_and_a_coin_a_wide_one():
    assert interval(run([1] * 40), "retrieval.hit@10", resamples=500) == (1.0, 1.0)
    low, high = interval(run([1, 0] * 50), "retrieval.hit@10", resamples=2000)
    assert 0.38 <= low <= 0.42 and 0.58 <= high <= 0.62
    assert interval(run([1, 0]), "answer.f1", resamples=100) is None  # no question has it


def test_the_same_seed_gives_the_same_interval():
    records = run([1, 0, 1, 1, 0, 1, 0, 1] * 5)
    assert interval(records, "retrieval.hit@10", resamples=1000, seed=3) == interval(
        records, "retrieval.hit@10", resamples=1000, seed=3)


def test_runs_that_differ_by_one_question_do_not_differ_significantly():
    a = run([1, 0, 1, 1, 0, 1, 0, 1, 1, 1] * 7 + [0])  # 71 questions, as the README's set
    b = [dict(r) for r in a]
    b[-1] = {**b[-1], "scores": {**b[-1]["scores"], "retrieval": {"hit@10": 1.0}}}
    d = difference(a, b, "retrieval.hit@10", resamples=5000)
    assert d.questions == 71 and d.diff == pytest.approx(1 / 71, abs=1e-4)
    assert d.low <= 0 <= d.high and not d.significant
    assert d.test == "mcnemar" and d.p == 1.0  # one question changed: nothing to tell from chance


def test_a_large_paired_drop_is_significant_both_ways():
    a = run([1] * 40)
    b = run([1] * 20 + [0] * 20)
    d = difference(a, b, "retrieval.hit@10", resamples=2000)
    assert d.significant and d.high < 0 and d.p < 0.001 and d.test == "mcnemar"
    continuous = difference(run([1] * 30, f1=[0.9] * 30), run([1] * 30, f1=[0.5 + 0.01 * i for i in range(30)]),
                            "answer.f1", resamples=2000)
    assert continuous.test == "permutation" and continuous.significant and continuous.p < 0.01


def test_only_questions_both_runs_scored_are_paired():
    a, b = run([1, 1, 1, 0]), run([1, 1])
    d = difference(a, b, "retrieval.hit@10", resamples=200)
    assert d.questions == 2 and d.a == 1.0 and d.b == 1.0 and d.diff == 0.0


def test_auroc_and_ece_are_bootstrapped_over_questions():
    confidence = [0.9, 0.8, 0.7, 0.2, 0.1, 0.3] * 5
    good = run([1, 1, 1, 0, 0, 0] * 5, confidence=confidence)
    assert set(per_question(good, "confidence.auroc")) == {f"q{i}" for i in range(30)}
    low, high = interval(good, "confidence.auroc", resamples=300)
    assert low == high == 1.0
    bad = run([0, 0, 0, 1, 1, 1] * 5, confidence=confidence)
    d = difference(good, bad, "confidence.auroc", resamples=300)
    assert d.test == "bootstrap" and d.diff == -1.0 and d.significant
    assert interval(good, "confidence.ece", resamples=300)[0] >= 0


def test_mcnemar_and_permutation_by_hand():
    assert mcnemar(np.array([1.0] * 5), np.array([0.0] * 5)) == pytest.approx(2 * 0.5 ** 5)
    assert mcnemar(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 1.0
    assert permutation(np.array([0.3, 0.4]), np.array([0.3, 0.4])) == 1.0

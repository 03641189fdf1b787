"""How much a figure could move by chance: bootstrap intervals over questions, and paired tests for two runs.

- An interval resamples the questions with replacement (seeded; 10,000 resamples by default) and takes
  the 2.5th and 97.5th percentiles of the metric (evals/README.md, "Statistics").
- Two runs are compared on the questions both scored, paired by id: the difference B - A is resampled with
  the questions together, and tested with McNemar's exact test when the metric is right/wrong per question
  (scipy's binomial test on the questions that changed), a paired permutation test (scipy) when it is a
  per-question number, and the bootstrap itself for AUROC and ECE (not per-question means).
- A difference is significant when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import metrics as m

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95
CALIBRATION = ("confidence.auroc", "confidence.ece")  # computed over the questions, not averaged per question


def per_question(records: Sequence[dict], key: str) -> dict[str, float]:
    """{question id: its value} of a metric ("retrieval.hit@10", "abstention.false_rate", ...) for the
    questions it applies to. For AUROC and ECE, the value is the question's (confidence, right) pair, encoded
    as right * 2 + confidence (see `_calibration`)."""
    group, name = key.split(".", 1)
    out = {}
    for r in records:
        s = r["scores"]
        if key == "abstention.accuracy":
            value = s.get("correct_abstention")
        elif key == "abstention.false_rate":
            value = s.get("false_abstention")
        elif key in CALIBRATION:
            label = m.best_answer_right(r["answerable"], r["abstained"], s.get("right"))
            value = None if "right" not in s or label is None else 2.0 * label + s.get("confidence", 0.0)
        else:
            value = s.get(group, {}).get(name) if isinstance(s.get(group), dict) else None
        if value is not None:
            out[r["id"]] = float(value)
    return out


def _calibration(key: str) -> Callable[[np.ndarray], float]:
    """The statistic of a calibration metric over encoded (right * 2 + confidence) values."""

    def statistic(values: np.ndarray) -> float:
        right, confidence = values >= 2.0, values - 2.0 * (values >= 2.0)
        if key == "confidence.auroc":
            result = m.auroc(confidence.tolist(), right.tolist())
        else:
            result = m.calibration_error(m.reliability(confidence.tolist(), right.tolist()))
        return np.nan if result is None else result

    return statistic


def _statistic(key: str) -> Callable[[np.ndarray], float]:
    return _calibration(key) if key in CALIBRATION else (lambda values: float(np.mean(values)))


def _resampled(values: np.ndarray, key: str, resamples: int, seed: int, other: np.ndarray | None = None
               ) -> np.ndarray:
    """The statistic of `values` (minus that of `other`, paired) over `resamples` bootstrap resamples."""
    rng = np.random.default_rng(seed)
    n = len(values)
    if key not in CALIBRATION:  # a mean: all resamples at once
        index = rng.integers(0, n, size=(resamples, n))
        out = values[index].mean(axis=1)
        return out - other[index].mean(axis=1) if other is not None else out
    statistic = _statistic(key)
    out = np.empty(resamples)
    for i in range(resamples):
        index = rng.integers(0, n, size=n)
        out[i] = statistic(values[index]) - (statistic(other[index]) if other is not None else 0.0)
    return out


def _bounds(samples: np.ndarray) -> tuple[float, float] | None:
    samples = samples[~np.isnan(samples)]
    if not len(samples):
        return None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return round(float(low), 4), round(float(high), 4)


def interval(records: Sequence[dict], key: str, resamples: int = RESAMPLES, seed: int = SEED
             ) -> tuple[float, float] | None:
    """The 95% bootstrap interval of a metric of one run; None when no question has it."""
    values = np.array(list(per_question(records, key).values()))
    if not len(values):
        return None
    return _bounds(_resampled(values, key, resamples, seed))


def ratio_interval(numerators: np.ndarray, denominators: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
                   ) -> tuple[float, float] | None:
    """The 95% bootstrap interval of sum(numerators) / sum(denominators), resampling the units (topics)
    together with what they count: the events of one topic are not independent of each other."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(numerators), size=(resamples, len(numerators)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _bounds(numerators[index].sum(axis=1) / denominators[index].sum(axis=1))


@dataclass
class Difference:
    key: str
    questions: int  # scored in both runs
    a: float | None
    b: float | None
    diff: float | None  # B - A on those questions
    low: float | None
    high: float | None
    p: float | None
    test: str  # mcnemar, permutation or bootstrap

    @property
    def significant(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def difference(records_a: Sequence[dict], records_b: Sequence[dict], key: str, resamples: int = RESAMPLES,
               seed: int = SEED) -> Difference:
    """B - A for one metric on the questions both runs scored, with its paired interval and test."""
    va, vb = per_question(records_a, key), per_question(records_b, key)
    ids = [i for i in va if i in vb]
    a, b = np.array([va[i] for i in ids]), np.array([vb[i] for i in ids])
    if not ids:
        return Difference(key, 0, None, None, None, None, None, None, "")
    statistic = _statistic(key)
    sa, sb = statistic(a), statistic(b)
    diffs = _resampled(b, key, resamples, seed, other=a)
    bounds = _bounds(diffs) or (None, None)
    if key in CALIBRATION:
        valid = diffs[~np.isnan(diffs)]
        p = min(1.0, 2 * min(np.mean(valid <= 0), np.mean(valid >= 0))) if len(valid) else None
        test = "bootstrap"
    elif set(np.unique(np.concatenate([a, b]))) <= {0.0, 1.0}:
        p, test = mcnemar(a, b), "mcnemar"
    else:
        p, test = permutation(a, b, resamples, seed), "permutation"

    def rounded(x: float) -> float | None:
        return None if x is None or np.isnan(x) else round(float(x), 4)

    return Difference(key, len(ids), rounded(sa), rounded(sb), rounded(sb - sa), *bounds,
                      None if p is None else round(float(p), 4), test)


def mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """McNemar's exact test: of the questions that changed (right in one run only), are the two directions
    equally likely? A two-sided binomial test with p = 1/2 (scipy)."""
    from scipy.stats import binomtest

    gained, lost = int(np.sum((a == 0) & (b == 1))), int(np.sum((a == 1) & (b == 0)))
    if gained + lost == 0:
        return 1.0
    return float(binomtest(gained, gained + lost, 0.5).pvalue)


def permutation(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """A paired permutation test of the mean difference: each question's two values swapped at random (scipy)."""
    from scipy.stats import permutation_test

    if np.allclose(a, b):
        return 1.0
    result = permutation_test((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), permutation_type="samples",
                              vectorized=True, n_resamples=resamples, random_state=seed)
    return float(result.pvalue)

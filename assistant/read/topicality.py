"""Whether a dated sentence tells an event of a timeline's topic, or only shares its words.

The reader (reader.py) judges whether a sentence answers a question; a topic is not a question, and the
reports about a topic also tell other stories ("a tornado in Alabama" in a California-storms briefing),
comment on it ("Cardiac arrest can stem from ...") or recall its past. This is a logistic model over what
the reader and the embedding model already computed for each dated sentence: how it scores against the
best sentence, how its report does, how close it is in meaning to the topic and to the topic's best
sentences, and how its date lies against the reports'. evals/train_topicality.py fits it on rows labelled
for topics of their own (evals/sets/timeline_train.jsonl), none of them a topic the timeline set measures,
and writes topicality.json beside this module (docs/timeline.md has its figures).

The product reads a JSON of numbers, not a pickle: a pickle breaks across scikit-learn versions and runs
code when loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL = Path(__file__).with_name("topicality.json")
WINDOW = 400  # characters each side of a sentence: the text around it, for the share of the topic's words
CORE = 5  # the topic's best sentences, whose mean vector says what the story is beyond the topic's words


def features(reader: float, best: float, report_best: float, rank: int, vector: np.ndarray, topic: np.ndarray,
             core: np.ndarray, report: np.ndarray, answerer: dict[str, float], days_off: int,
             relative_date: bool, precision: int, subordinate: bool, words: int, shares: dict[str, float]
             ) -> dict[str, float]:
    """One dated sentence's features. `vector`, `topic`, `core` and `report` are unit vectors: the
    sentence's, the topic's, the mean of the topic's best sentences', and the mean of its report's dated
    sentences'; `rank` its place among the ranked sentences; `answerer` the features the answerer gave it
    (answer.py); `days_off` how far its date lies from the median date of the reports about the topic;
    `precision` 0 for a day to 3 for a year; `shares` the shares of the topic's words in the sentence, in the
    text around it and in its report's title (a briefing page tells other stories between the topic's)."""
    return {"reader": reader, "relative": reader - best, "report_relative": report_best - best,
            "rank": math.log1p(rank), "topic_cosine": float(vector @ topic), "core_cosine": float(vector @ core),
            "report_cosine": float(report @ core), "terms": answerer.get("terms", 0.0),
            "coverage": answerer.get("coverage", 0.0), "focus_miss": answerer.get("focus_miss", 0.0),
            "passage_rank": answerer.get("passage_rank", 0.0), "days_off": math.log1p(abs(days_off)),
            "relative_date": float(relative_date), "precision": float(precision),
            "subordinate": float(subordinate), "words": math.log(max(words, 1)), **shares}


def unit(vectors: np.ndarray) -> np.ndarray:
    """The mean of unit vectors, as a unit vector."""
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


@dataclass(frozen=True)
class Topicality:
    """A weight per standardised feature, and the probability a sentence must reach to be listed."""

    weights: dict[str, float]
    bias: float
    mean: dict[str, float]
    scale: dict[str, float]
    threshold: float

    @classmethod
    def load(cls, path: Path = MODEL) -> Topicality:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in ("weights", "bias", "mean", "scale", "threshold")})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a topicality model ({exc}); rebuild it with "
                             "evals/train_topicality.py") from exc

    def probability(self, x: dict[str, float]) -> float:
        z = self.bias + sum(w * (x[f] - self.mean[f]) / self.scale[f] for f, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def keeps(self, x: dict[str, float]) -> bool:
        return self.probability(x) >= self.threshold

"""A sentence of a report as the read stage handles it: where it is, the passage it came from, and what
the reader and the features made of it. Ranking (answer.py), values and disagreements (values.py),
timelines and outlets all pass these around."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import Passage


@dataclass
class Sentence:
    doc_id: str
    start: int
    end: int
    text: str
    passage: Passage
    features: dict[str, float] = field(default_factory=dict)
    logit: float = 0.0  # the ranker's log-odds that this sentence answers the question
    score: float = 0.0  # the same as a probability
    coverage: float = 0.0  # share of the question's key terms in this sentence, its passage and title
    unmet: bool = False  # lacks a figure the question names: ranked after every sentence that has it

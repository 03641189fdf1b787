"""Values in report sentences (figures, dates, durations), and reports that disagree on one.

When a question asks for a figure, a date or a duration, the best sentences of different reports are
read for that kind of value; when they give different values for the same thing ("73 freight cars",
"about 70 freight cars"), the answer says so and cites each. Dates are read by dateutil; what counts as
"the same thing" (the words after a figure, the kind of value) is what no library offers, hence the code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..models import Disagreement, DisagreementValue

if TYPE_CHECKING:
    from .sentences import Sentence

NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
     "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"])}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                     "ninety": 90, "hundred": 100, "dozen": 12})
QUALIFIER = r"(?:(about|around|roughly|nearly|almost|approximately|some|more than|over|at least|fewer than|" \
            r"less than|up to|close to)\s+)?"
FIGURE = rf"(\d[\d,]*(?:\.\d+)?|{'|'.join(NUMBER_WORDS)})"
MONTH_NAMES = "january february march april may june july august september october november december".split()  # noqa: SIM905
MONTH = "|".join(MONTH_NAMES)
UNITS = r"(minute|hour|day|week|month|year)s?"
DURATION = re.compile(rf"\b{QUALIFIER}{FIGURE}[ -]{UNITS}\b", re.I)
DATE = re.compile(rf"\b(\d{{1,2}}) ({MONTH})\b|\b({MONTH}) (\d{{1,2}})\b(?!,? \d{{3}})", re.I)
COUNT = re.compile(rf"\b{QUALIFIER}{FIGURE}\s+((?:[a-z][a-z-]*\s+)?[a-z][a-z-]*)", re.I)
NOT_A_UNIT = re.compile(rf"^({MONTH}|{UNITS}|per|percent|and|or|of|to|in|on|at|the|a|an)\b", re.I)
ABOUT = {"date": "the date", "duration": "how long"}
NO_YEAR = datetime(2000, 1, 1)  # a date without its year is compared by month and day
SAME_TERMS = 0.6  # share of the answer sentence's question terms another report's sentence must hold


@dataclass
class Value:
    kind: str  # number, date or duration
    text: str  # as the report words it
    key: tuple  # what two values are compared by
    unit: frozenset[str] = frozenset()  # for a figure: the stems of the words after it ("freight", "car")


def values(text: str, kind: str) -> list[Value]:
    """The values of one kind that a sentence states."""
    from ..text import terms

    out = []
    if kind == "date":
        from dateutil import parser

        for m in DATE.finditer(text):
            try:
                when = parser.parse(m.group(0), default=NO_YEAR)
            except (ValueError, OverflowError):
                continue
            out.append(Value("date", m.group(0), (when.month, when.day)))
    elif kind == "duration":
        for m in DURATION.finditer(text):
            out.append(Value("duration", m.group(0), (m.group(1) or "", _number(m.group(2)), m.group(3).lower())))
    elif kind == "number":
        dates = [m.span() for m in DATE.finditer(text)]
        for m in COUNT.finditer(text):
            unit = m.group(3)
            if NOT_A_UNIT.match(unit) or any(a <= m.start(2) < b for a, b in dates) or is_year(m.group(2)):
                continue
            figure = f"{m.group(1)} {m.group(2)}" if m.group(1) else m.group(2)
            out.append(Value("number", figure, ((m.group(1) or "").lower(), _number(m.group(2))),
                             frozenset(terms(unit))))
    return out


@dataclass
class Differ:
    """Reports giving different values: each value with the sentences that give it."""

    about: str
    values: list[tuple[str, list[Sentence]]]
    markers: list[list[int]] = field(default_factory=list)

    def with_markers(self, marker: dict[int, int]) -> Differ:
        self.markers = [sorted({marker[id(s)] for s in sentences if id(s) in marker}) for _, sentences in self.values]
        return self

    def sentence(self) -> str:
        listed = "; ".join(f"{value} {''.join(f'[{m}]' for m in marks)}" for (value, _), marks
                           in zip(self.values, self.markers))
        return f"Reports differ on {self.about}: {listed}."

    def model(self) -> Disagreement:
        return Disagreement(about=self.about, values=[DisagreementValue(value=value, markers=marks)
                                                      for (value, _), marks in zip(self.values, self.markers)])


def find_disagreements(kind: str | None, ranked: Sequence[Sentence], chosen: Sequence[Sentence],
                       floor: float) -> list[tuple[Differ, list[Sentence]]]:
    """When the answer's sentence states a value of the kind asked for, and a sentence of another report
    scoring at least `floor` states a different value of the same thing: that disagreement, with the
    sentences to cite for it (the answer's own first). At most one disagreement: the answer's."""
    if kind not in ("number", "date", "duration"):
        return []
    anchor = next(((s, v) for s in chosen for v in values(s.text, kind)), None)
    if anchor is None:
        return []
    first, value = anchor
    # Another report's value counts when its sentence scores near the answer's and holds most of the
    # question's terms the answer's sentence holds: a date of another event in the story does not.
    enough = SAME_TERMS * first.features.get("terms", 0.0)
    candidates = [*chosen, *(s for s in ranked if s.logit >= floor and all(s is not c for c in chosen)
                             and s.features.get("terms", 0.0) >= enough and not getattr(s, "unmet", False))]
    by_key: dict[tuple, tuple[str, list[Sentence]]] = {}
    for s in candidates:
        same = next((v for v in values(s.text, kind) if same_thing(value, v)), None)
        if same is not None:
            by_key.setdefault(same.key, (same.text, []))[1].append(s)
    docs = {key: {s.doc_id for s in sentences} for key, (_, sentences) in by_key.items()}
    if len(by_key) < 2 or len(set().union(*docs.values())) < 2:
        return []
    # The answer's value first, then the others as often stated as they are.
    ordered = sorted(by_key.items(), key=lambda item: (item[0] != value.key, -len(docs[item[0]])))
    shown = [(text, sentences[:1]) for _, (text, sentences) in ordered[:3]]
    about = " ".join(_unit_words(first.text, value)) if kind == "number" else ABOUT[kind]
    return [(Differ(about or "the figure", shown), [s for _, sentences in shown for s in sentences])]


def same_thing(a: Value, b: Value) -> bool:
    if a.kind == "number":
        return bool(a.unit & b.unit)
    if a.kind == "duration":
        return a.key[2] == b.key[2]
    return True


def _unit_words(text: str, value: Value) -> list[str]:
    m = re.search(re.escape(value.text) + r"\s+((?:[a-z][a-z-]*\s+)?[a-z][a-z-]*)", text, re.I)
    return m.group(1).split() if m else []


def _number(text: str) -> float:
    low = text.lower()
    if low in NUMBER_WORDS:
        return float(NUMBER_WORDS[low])
    return float(low.replace(",", ""))


def is_year(text: str) -> bool:
    return text.isdigit() and len(text) == 4 and text[:2] in ("19", "20")

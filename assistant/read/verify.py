"""Verify: every sentence of a generated answer checked against the passages before it is shown.

The answer is split into sentences with their [n] markers. For each sentence, the verifier looks for the
span of the passages that best supports it: a sentence of a passage, or two neighbouring ones, scored
by the embedding model (cosine) and by how many of the sentence's words the span holds; and the facts a
journalist checks first (numbers, dates, names) must be in the span as well. The passages the sentence
cites are searched first, then all the others: a sentence supported elsewhere has its citation moved
there (repaired); one supported nowhere is flagged. No library checks citations at sentence level with
exact offsets, hence the code.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from ..models import Passage
from ..text import passage_window, sentence_spans, stem, terms
from .values import DATE, NO_YEAR, is_year

MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
COPIED_HEADING = re.compile(r"\bPassage \[(\d+)\](?:,\s*\d{4}-\d\d-\d\d)?:\s*")
# Where a sentence joins two statements: ", and the ...", "; ", ", while ..." (not "Bermudez, Cha and Jun").
JOINED_CLAUSES = re.compile(r",\s+and\s+(?=(?:the|a|an|it|he|she|they|its|his|her|their)\b|[A-Z0-9])|;\s+|"
                            r",\s+(?:while|but|whereas)\s+")
MARKDOWN = re.compile(r"\*\*|__|^\s*[-*]\s+", re.M)
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}
NUMBER = re.compile(r"\d+(?:[.,:/–-]\d+)*")  # a score (3-1), a time or a date is one figure
CALENDAR_WORD = re.compile(r"\b(january|february|march|april|may|june|july|august|september|october|november|"
                           r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I)
CLAUSE_BREAK = re.compile(r"\s*[,;:()\u2013\u2014]\s*|\s+-\s+")
LONG_SENTENCE = 16  # words: shorter sentences are compared whole
SHORT_ANSWER = 3  # terms: an answer this short is compared together with the question
NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:-[A-Za-z]+)*")
NEGATION = re.compile(r"\b(not|no|never|none|neither|nor|without)\b|n't\b", re.I)
NEGATION_SKIP = {"a", "an", "the", "be", "been", "being", "is", "are", "was", "were", "have", "has", "had", "do",
                 "does", "did", "yet", "to", "even", "ever", "always", "only", "just", "very", "so", "too"}
COSINE_WEIGHT = 0.6  # the rest is the share of the sentence's words found in the span


@dataclass
class Span:
    number: int  # the passage's [n] in the prompt
    doc_id: str
    start: int
    end: int
    text: str  # the quote: whole sentences
    scored: str = ""  # what the claim's meaning is compared with: the quote, or one of its clauses

    def __post_init__(self) -> None:
        self.scored = self.scored or self.text


@dataclass
class Checked:
    """One answer sentence with what the verifier found."""

    text: str
    markers: list[int]  # the passage numbers the answer gave it
    span: Span | None = None  # the quote the sentence rests on (the best one, even when it is not enough)
    score: float = 0.0
    supported: bool = False
    repaired: bool = False
    flags: list[str] = field(default_factory=list)


def split_answer(answer: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences without their markers, each with the passage numbers it cites. A marker
    that a sentence splitter puts at the start of the next sentence ("... cars. [1] The ...") is given
    back to the sentence before."""
    out: list[tuple[str, list[int]]] = []
    answer = COPIED_HEADING.sub("", answer)  # the prompt's "Passage [2], 2023-09-18:", copied: not a citation
    answer = MARKDOWN.sub("", answer)  # **bold** and list bullets are layout, not words to check
    for start, end in sentence_spans(answer, 0, len(answer)):
        piece = answer[start:end]
        lead = re.match(r"(\s*\[\d+(?:\s*[,;]\s*\d+)*\])+", piece)
        if lead and out:
            out[-1][1].extend(_numbers(lead.group(0)))
            piece = piece[lead.end():]
        markers = _numbers(" ".join(m.group(0) for m in MARKERS.finditer(piece)))
        text = " ".join(MARKERS.sub("", piece).split())
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if re.search(r"\w", text):
            out.append((text, markers))
        elif out:
            out[-1][1].extend(markers)
    return [(text, list(dict.fromkeys(markers))) for text, markers in out]


def _numbers(markers: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", markers)]


class Verifier:
    def __init__(self, embed: Callable[[list[str]], np.ndarray], min_support: float):
        self.embed = embed
        self.min_support = min_support

    def check(self, answer: str, passages: list[Passage], texts: dict[str, str], titles: dict[str, str],
              question: str = "", dates: dict[str, str | None] | None = None) -> list[Checked]:
        """Each sentence of `answer`, whose [n] markers number `passages` from 1, checked against them.
        `question` gives a short answer ("CBS") its meaning; `dates` (the reports' dates) resolve a month,
        a weekday or a year the report's own sentences leave out."""
        sentences = split_answer(answer)
        spans = self._spans(passages, texts)
        if not sentences:
            return []
        if not spans:
            return [Checked(text, markers, flags=["no passage to check it against"]) for text, markers in sentences]
        # A short answer means nothing alone: "CBS" is compared as "Which network reported it? CBS".
        claims = [f"{question} {t}" if question and len(terms(t)) <= SHORT_ANSWER else t for t, _ in sentences]
        vectors = self.embed(claims + list(dict.fromkeys(s.scored for s in spans)))
        index = {text: i for i, text in enumerate(dict.fromkeys(s.scored for s in spans))}
        span_vectors = vectors[len(sentences):][[index[s.scored] for s in spans]]
        cosines = vectors[:len(sentences)] @ span_vectors.T
        checks = [self._check(text, markers, spans, cosines[i], texts, titles, dates or {})
                  for i, (text, markers) in enumerate(sentences)]
        return [self._in_parts(c, spans, span_vectors, texts, titles, dates or {}) for c in checks]

    def _in_parts(self, checked: Checked, spans: list[Span], span_vectors: np.ndarray, texts: dict[str, str],
                  titles: dict[str, str], dates: dict[str, str | None]) -> Checked:
        """A sentence that joins two facts from different passages ("... adopted in October 2006, and the
        rebuilt line reopened in 2013") is supported when each of its parts is."""
        parts = [p for p in JOINED_CLAUSES.split(checked.text) if p and len(p.split()) >= 4]
        if checked.supported or len(parts) < 2:
            return checked
        vectors = self.embed(parts)
        found = [self._check(part, checked.markers, spans, span_vectors @ v, texts, titles, dates)
                 for part, v in zip(parts, vectors)]
        if not all(f.supported for f in found):
            return checked
        first = found[0]
        return Checked(checked.text, checked.markers, first.span, min(f.score for f in found), True,
                       any(f.repaired for f in found),
                       [f"supported in parts: {', '.join(f'[{f.span.number}]' for f in found)}"])

    def _spans(self, passages: list[Passage], texts: dict[str, str]) -> list[Span]:
        """Candidate quotes: each sentence of each passage (widened to whole sentences) and each pair of
        neighbouring sentences, since an answer sentence often joins two."""
        spans = []
        for number, p in enumerate(passages, start=1):
            text = texts.get(p.doc_id)
            if text is None:
                continue
            start, end = passage_window(text, p.start, p.end)
            pieces = sentence_spans(text, start, end)
            for i, (a, b) in enumerate(pieces):
                spans.append(Span(number, p.doc_id, a, b, text[a:b]))
                # A short claim inside a long sentence is compared with the sentence's clauses too.
                spans += [Span(number, p.doc_id, a, b, text[a:b], clause) for clause in clauses(text[a:b])]
                if i + 1 < len(pieces):
                    spans.append(Span(number, p.doc_id, a, pieces[i + 1][1], text[a:pieces[i + 1][1]]))
        return spans

    def _check(self, text: str, markers: list[int], spans: list[Span], cosines: np.ndarray,
               texts: dict[str, str], titles: dict[str, str], dates: dict[str, str | None]) -> Checked:
        checked = Checked(text, markers)
        numbers = {s.number for s in spans}
        invalid = [m for m in markers if m not in numbers]
        if invalid:
            checked.flags.append(f"cites {', '.join(f'[{m}]' for m in invalid)}, which no passage has")
        own = terms(text)
        scored = []
        for span, cosine in zip(spans, cosines):
            lexical = len(own & terms(span.text)) / len(own) if own else 0.0
            missing = missing_facts(text, span.text, titles.get(span.doc_id, ""), texts.get(span.doc_id, ""),
                                    dates.get(span.doc_id))
            score = COSINE_WEIGHT * float(cosine) + (1 - COSINE_WEIGHT) * lexical
            scored.append((not missing and score >= self.min_support, score, span, missing))
        cited = [s for s in scored if s[2].number in markers]
        best_cited = max(cited, key=lambda s: (s[0], s[1]), default=None)
        best_any = max(scored, key=lambda s: (s[0], s[1]))
        if best_cited and best_cited[0]:
            chosen = best_cited
        elif best_any[0]:
            chosen = best_any
            checked.repaired = True
            checked.flags.append(f"cited {', '.join(f'[{m}]' for m in markers)}, which does not support it; "
                                 f"[{best_any[2].number}] does" if markers else
                                 f"no citation; [{best_any[2].number}] supports it")
        else:
            chosen = best_cited or best_any
            checked.flags.append("no passage supports it" if markers else "no citation, and no passage supports it")
            if chosen[3]:
                checked.flags.append(f"not in the source: {', '.join(chosen[3])}")
        checked.supported, checked.score, checked.span = chosen[0], round(chosen[1], 4), chosen[2]
        return checked


def missing_facts(sentence: str, span: str, title: str, document: str, date: str | None = None) -> list[str]:
    """The numbers, months, weekdays and names of `sentence` that its quote does not back: numbers, months
    and weekdays must be in the span (or the report's title), or follow from a date there read with the
    report's date ("13 September" is a Wednesday in 2023; the report's year and month count too); a name
    anywhere in the report (a span says "he" for "Putin"); and a negation the span does not have ("did not
    sign" from "signed": embeddings barely see it)."""
    missing = []
    negated = _negated(span)
    for word in _negated(sentence, reach=1) - negated:
        missing.append(f"a negation (not {word})")
    near = f"{span} {title}"
    calendar = _calendar(near, date)
    # A year is often written once per report ("In October, ..." under a 2021 heading): like a name, it
    # may be anywhere in the report.
    have_numbers = _figures(near) | {w for w in calendar if w.isdigit()} | {
        y for y in _figures(sentence) if is_year(y) and y in document}
    # "one" is too often not a number ("one of the largest") to be asked for.
    for figure in sorted(_figures(sentence) - have_numbers - ({"1"} if not NUMBER.search(sentence) else set())):
        missing.append(figure)
    near_low = near.lower()
    for word in {m.lower() for m in CALENDAR_WORD.findall(sentence)}:
        if word not in near_low and word not in calendar:
            missing.append(word.capitalize())
    doc_low = f"{document} {title}".lower()
    # The first word is capitalised anyway: it counts as a name when it looks like one ("CleanCo", or a
    # name of several words: "Sparkling Clean ...").
    names = [m.group(0) for m in NAME.finditer(sentence) if sentence[:m.start()].strip()
             or re.search(r"[a-z][A-Z]", m.group(0)) or re.match(r"\s+[A-Z][a-z]", sentence[m.end():])]
    for name in dict.fromkeys(names):
        if CALENDAR_WORD.fullmatch(name) or name.lower() in NUMBER_WORDS:
            continue
        if name.lower() not in doc_low and not (name.isupper() and _acronym_of(name, f"{span} {title}")):
            missing.append(name)
    return missing


def _acronym_of(name: str, text: str) -> bool:
    """Is `name` ("ROE", "CSIS") the initials of words the text spells out ("Return on Equity", "Center
    for Strategic and International Studies": with or without its small words)?"""
    words = re.findall(r"[A-Za-z]+", text)
    capitalised = [w for w in words if w[0].isupper()]
    for chosen in ([words, capitalised] if len(name) >= 3 else [capitalised]):  # two letters match too easily
        initials = "".join(w[0].upper() for w in chosen)
        if name.upper() in initials:
            return True
    return False


def _calendar(text: str, report_date: str | None) -> set[str]:
    """Month names, weekday names and years that the dates in `text` and the report's date stand for: a
    date without its year ("13 September") is read in the report's year, as a reader would."""
    from dateutil import parser

    anchor = _parse_day(report_date)
    found = [anchor] if anchor else []
    for m in DATE.finditer(text):
        with contextlib.suppress(ValueError, OverflowError):
            found.append(parser.parse(m.group(0), default=datetime(anchor.year, 1, 1) if anchor else NO_YEAR).date())
    out = {str(anchor.year)} if anchor else set()
    for day in found:
        out.add(day.strftime("%B").lower())
        # A weekday needs the year; the report's own weekday counts only when the text gives no date ("met on
        # 13 September" in a Friday's report does not make "met on a Friday").
        if anchor and (day is not anchor or len(found) == 1):
            out.add(day.strftime("%A").lower())
    return out


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value and len(value) >= 10 else None
    except ValueError:
        return None


def clauses(sentence: str) -> list[str]:
    """The clauses of a long sentence and runs of two or three neighbouring ones: what a short claim
    ("The study was signed by Bermudez, Cha and Jun") restates of a long sentence."""
    pieces = [p.strip() for p in CLAUSE_BREAK.split(sentence) if len(p.split()) >= 2]
    if len(sentence.split()) < LONG_SENTENCE or len(pieces) < 2:
        return []
    runs = {", ".join(pieces[i:i + n]) for n in (1, 2, 3) for i in range(len(pieces) - n + 1)}
    return sorted(r for r in runs if len(r.split()) >= 3 and r != sentence.strip())


def _negated(text: str, reach: int = 3) -> set[str]:
    """Stems of the words a negation bears on: the `reach` words after "not", "never", "no"..."""
    words = re.findall(r"[\w'’-]+", text.lower())
    out = set()
    for i, w in enumerate(words):
        if NEGATION.fullmatch(w) or w.endswith(("n't", "n’t")):
            following = [x for x in words[i + 1:i + 1 + reach + 2] if x not in NEGATION_SKIP][:reach]
            out |= {stem(x) for x in following}
    return out


def _figures(text: str) -> set[str]:
    """Numbers as written in digits or as small number words, normalised ("1,200" = "1200", "seven" = "7")."""
    found = {n.replace(",", "").rstrip(".") for n in NUMBER.findall(text)}
    found |= {NUMBER_WORDS[w.lower()] for w in re.findall(r"[A-Za-z]+", text) if w.lower() in NUMBER_WORDS}
    return {f[:-2] if f.endswith(".0") else f for f in found}

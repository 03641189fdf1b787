"""Timelines: the dated events the reports state about a topic, in the order they happened.

- Dates are found and resolved by `dateparser` (the report's date is the reference for "on Sunday",
  "last month" and a date without its year). What no library does is judge which of its finds are dates
  at all ("may", "sat" and "73 and may" are found too): a find counts only when it holds a month or
  weekday as the report spells it, a year, or a relative anchor ("yesterday", "two days ago", "last week").
- A relative date ("on Sunday") is counted from the report's date (date_source "report date"); so is a
  sentence with no date at all, when the topic finds it among the most relevant.
- The same event in several reports (wire copies, or the same date and mostly the same words) is one
  row citing every outlet; reports that date the same event differently are flagged, each cited.

Over 400 lines: finding dates, judging them, and grouping events into rows are one chain; each step is a
section below.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np

from ..models import Citation, DocumentInfo, Passage, TimelineConflict, TimelineEvent
from ..text import sentence_spans, terms, words
from .sentences import Sentence

MARGIN = 3.0  # a sentence is about the topic when it scores this close to the best one (log-odds)
# A report is about the topic when its best sentence scores this close to the best of all: in the corpus,
# every report on Kim's trip for "Kim Jong Un's trip to Russia", and the follow-up that dates the study
# otherwise for "When was the Beyond Parallel study published?" (1.6 below the best); for "the heatwave in
# Harbor City", the heatwave report, but also (less aptly) the same city's market and baseball reports.
REPORT_MARGIN = 2.0
UNDATED_MARGIN = 1.0  # a sentence with no date is listed (on its report's date) when it scores this close
MAX_UNDATED = 3
MIN_EVENT_WORDS = 4  # words besides the date a sentence needs to tell an event (not a date line)
MAX_SENTENCES = 60  # sentences read for dates: the best of what retrieval found
MAX_REPORTS = 10  # reports whose other sentences with a date are read too: the first ones retrieval found
MAX_DATED_PER_REPORT = 20
# Two reports' sentences are the same event at the same date when this close (cosine, or share of words),
# and flagged as dating it differently when closer still (a study "published on 5 October" and "released
# on 6 October" are 0.78 apart; leaving Pyongyang and crossing the border, 0.67).
MERGE_COSINE = 0.6
MERGE_OVERLAP = 0.3
CONFLICT_COSINE = 0.75
PRECISION_ORDER = {"day": 0, "week": 1, "month": 2, "year": 3}

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
MONTH_WORDS = {*MONTHS, "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"}
WEEKDAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
ANCHORS = {"yesterday", "today", "tonight", "tomorrow", "ago"}
UNITS = {"day", "days", "week", "weeks", "month", "months", "year", "years", "weekend"}
# Words a date may be made of: a find is trimmed to them ("on Wednesday at a" is "Wednesday").
DATE_WORDS = {w.lower() for w in MONTH_WORDS | WEEKDAYS} | ANCHORS | UNITS | {
    "last", "next", "this", "past", "earlier", "morning", "afternoon", "evening", "night", "of", "the",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "a", "couple"}
MONTHS_AND_DAYS = set(MONTHS) | WEEKDAYS
EDGE_FILLER = {"of", "the", "a"}  # date words that may sit inside a date, never at its edge
# News tells what happened: a weekday is the last one before the report, unless the sentence tells what
# will happen ("expects ... through Thursday", "attention would turn on Thursday"): then the next one.
# Only the words just before the weekday count: "would" elsewhere is often a condition ("a deal would
# violate international law"), not the future.
FUTURE = {"will", "would", "expects", "expected", "plans", "scheduled", "due", "next", "upcoming", "forecast"}
FUTURE_REACH = 8


@dataclass(frozen=True)
class When:
    """A date a sentence states, resolved."""

    day: date  # the date, or the first day of its period as dateparser gives it
    precision: str  # day, week, month or year
    stated: bool  # the sentence names it (a month or a year); else it is resolved against the report's date
    words: str  # as the sentence says it
    start: int  # offsets of `words` in the sentence
    end: int

    @property
    def iso(self) -> str:
        if self.precision == "year":
            return f"{self.day.year:04d}"
        if self.precision == "month":
            return f"{self.day.year:04d}-{self.day.month:02d}"
        return self.day.isoformat()

    def within(self, other: When) -> bool:
        """This date lies inside `other`'s coarser period (13 September in September)."""
        if PRECISION_ORDER[self.precision] >= PRECISION_ORDER[other.precision]:
            return False
        return self.iso.startswith(other.iso) if other.precision in ("month", "year") else False


def dates_in(sentence: str, reported: date | None) -> list[When]:
    """The dates `sentence` states, resolved against the date of its report (`reported`). Without a report
    date only full dates (with a year) count. Coarser dates inside finer ones are dropped."""
    from dateparser.search import search_dates

    base = datetime.combine(reported, datetime.min.time()) if reported else None
    settings = {"PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    if base:
        settings["RELATIVE_BASE"] = base
    try:
        found = search_dates(sentence, languages=["en"], settings=settings) or []
    except (ValueError, OverflowError, OSError):
        return []
    out: list[When] = []
    cursor = 0
    for text, _ in found:
        at = sentence.find(text, cursor)
        if at < 0:
            continue
        cursor = at + len(text)
        when = _resolve(sentence, at, at + len(text), reported)
        if when is not None and all(w.iso != when.iso for w in out):
            out.append(when)
    # "The previous August high was set in 1994": a month without its year beside a year is no date of its own.
    years = any(w.precision == "year" and w.stated for w in out)
    return [w for w in out if not any(w is not o and o.within(w) for o in out)
            and not (years and w.precision == "month" and not any(_is_year(x) for x in w.words.split()))]


def _resolve(sentence: str, start: int, end: int, reported: date | None) -> When | None:
    """The find sentence[start:end] as a date, or None when it is not one (see the module's docstring)."""
    tokens = [(m, m.strip(",.;:()")) for m in sentence[start:end].split()]
    keep = [i for i, (_, word) in enumerate(tokens) if _date_word(word)]
    if not keep:
        return None
    first, last = keep[0], keep[-1]
    while first <= last and (tokens[first][1].lower() in EDGE_FILLER or not _date_word(tokens[first][1])):
        first += 1
    while last >= first and (tokens[last][1].lower() in EDGE_FILLER or not _date_word(tokens[last][1])):
        last -= 1
    if first > last:
        return None
    words = [w for _, w in tokens[first:last + 1]]
    # "Jun" of "Jennifer Jun" is no month: an abbreviation counts next to a day's number ("Oct. 5").
    has_month = any(w in MONTHS for w in words) or (any(w.rstrip(".") in MONTH_WORDS for w in words)
                                                    and any(w.isdigit() or _ordinal(w) for w in words))
    has_year = any(_is_year(w) for w in words)
    weekday = any(w in WEEKDAYS for w in words)
    anchored = any(w.lower() in ANCHORS for w in words) or (
        any(w.lower() in ("last", "next", "this", "past") for w in words) and any(w.lower() in UNITS for w in words))
    if not (has_month or has_year or weekday or anchored):
        return None
    stated = has_month or has_year
    if reported is None and not has_year:
        return None  # a weekday, "last month" or "13 September" with no report date to count from
    # Offsets of the trimmed words in the sentence.
    offset = start + sentence[start:end].find(tokens[first][0])
    text = sentence[offset:start + sentence[start:end].rfind(tokens[last][0]) + len(tokens[last][0])].rstrip(",.;:)")
    base = datetime.combine(reported, datetime.min.time()) if reported else datetime(2000, 1, 1)
    before = {w.lower().strip(",.;:()") for w in sentence[:start].split()[-FUTURE_REACH:]}
    ahead = weekday and not has_month and bool(FUTURE & before)
    if weekday and not has_month and not ahead:
        # A report dated Thursday that says "on Thursday" means that day, not the week before.
        base += timedelta(days=1)
    parsed = _parse(text, base, "future" if ahead else "past")
    if parsed is None:
        return None
    day, period = parsed
    precision = {"day": "day", "week": "week", "month": "month", "year": "year"}.get(period, "day")
    return When(day, precision, stated, text, offset, offset + len(text))


@lru_cache(maxsize=512)
def _parser(base: datetime, prefer: str):
    from dateparser.date import DateDataParser

    return DateDataParser(languages=["en"], settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": prefer,
                                                      "RETURN_AS_TIMEZONE_AWARE": False})


def _parse(text: str, base: datetime, prefer: str = "past") -> tuple[date, str] | None:
    try:
        data = _parser(base, prefer).get_date_data(text)
    except (ValueError, OverflowError):
        return None
    if data.date_obj is None:
        return None
    return data.date_obj.date(), data.period or "day"


def _date_word(word: str) -> bool:
    return (word.rstrip(".") in MONTH_WORDS or word in WEEKDAYS or word.lower() in DATE_WORDS
            or word.isdigit() or _ordinal(word))


def _ordinal(word: str) -> bool:
    return word[:-2].isdigit() and word[-2:].lower() in ("st", "nd", "rd", "th")


def _is_year(word: str) -> bool:
    return len(word) == 4 and word.isdigit() and word[:2] in ("19", "20")


def _report_date(info: DocumentInfo) -> date | None:
    try:
        return date.fromisoformat(info.date) if info.date else None
    except ValueError:
        return None


def dated_sentences(passages: Sequence[Passage], texts: dict[str, str]) -> list[Passage]:
    """Sentences outside the retrieved passages of the first reports retrieved that may hold a date (a date
    word among their words: a cheap test before dateparser reads them), each as a passage of its own,
    ranked after the retrieved ones, so that the answerer's ranker scores them too. At most
    MAX_DATED_PER_REPORT a report, in its order: a long page has hundreds of sentences to embed."""
    first: dict[str, Passage] = {}
    for p in passages:
        if p.doc_id in texts and len(first) < MAX_REPORTS:
            first.setdefault(p.doc_id, p)
    covered = [(p.doc_id, p.start, p.end) for p in passages]
    out: list[Passage] = []
    for doc_id, p in first.items():
        text = texts[doc_id]
        taken = 0
        for start, end in sentence_spans(text, 0, len(text)):
            if taken >= MAX_DATED_PER_REPORT:
                break
            if any(d == doc_id and a < end and start < b for d, a, b in covered):
                continue
            if _may_hold_date(text[start:end]):
                taken += 1
                out.append(p.model_copy(update={"start": start, "end": end, "text": text[start:end],
                                                "rank": len(passages) + len(out) + 1, "copies": []}))
    return out


def _may_hold_date(sentence: str) -> bool:
    words = {w.strip(",.;:()'\"") for w in sentence.split()}
    return bool(words & (MONTHS_AND_DAYS | ANCHORS)) or any(_is_year(w) for w in words)


# --- building the timeline ------------------------------------------------------------------------------

@dataclass
class _Event:
    sentence: Sentence
    when: When
    source: str  # stated or report date
    note: str
    single: bool  # its sentence states this one date only
    copies: list[tuple[str, int, int]] = field(default_factory=list)  # wire copies: (doc_id, start, end)


@dataclass
class _Row:
    events: list[_Event]
    conflicts: list[_Row] = field(default_factory=list)  # rows dating the same event otherwise


Cite = Callable[[int, str, int, int, str, float], Citation]


def build(ranked: Sequence[Sentence], texts: dict[str, str], infos: dict[str, DocumentInfo],
          embed: Callable[[list[str]], np.ndarray], cite: Cite) -> list[TimelineEvent]:
    """The timeline's events from the topic's ranked sentences (the caller has checked that the reports
    cover the topic at all), oldest first, cited with markers 1.. in order. `cite(marker, doc_id, start,
    end, quote, score)` makes a citation. Events come from the reports about the topic (whose best
    sentence scores near the best of all), and among their sentences from those near the best."""
    if not ranked:
        return []
    best = ranked[0].logit
    report_best: dict[str, float] = {}
    for s in ranked:
        report_best.setdefault(s.doc_id, s.logit)
    relevant = [s for s in ranked if s.logit >= best - MARGIN and not s.unmet
                and report_best[s.doc_id] >= best - REPORT_MARGIN][:MAX_SENTENCES]
    events: list[_Event] = []
    undated = 0
    for s in relevant:
        reported = _report_date(infos[s.doc_id])
        whens = [w for w in dates_in(s.text, reported) if not _dateline(s.text, w)]
        for when in whens:
            source = "stated" if when.stated else "report date"
            note = "" if when.stated else f"“{when.words}”, counted from the report's date {reported.isoformat()}"
            events.append(_Event(s, when, source, note, len(whens) == 1))
        if not whens and reported and s.logit >= best - UNDATED_MARGIN and undated < MAX_UNDATED:
            undated += 1
            events.append(_Event(s, When(reported, "day", False, "", 0, 0), "report date",
                                 "no date in the sentence: the date of its report", True))
    for e in events:
        e.copies = copies_of(e.sentence, texts)
    rows = _merge(events, embed)
    for r in rows:  # the row shows a sentence that states this date alone, when a report has one
        r.events.sort(key=lambda e: not e.single)
    rows.sort(key=lambda r: (r.events[0].when.day, PRECISION_ORDER[r.events[0].when.precision],
                             not r.events[0].when.words, infos[r.events[0].sentence.doc_id].date or ""))
    return _models(rows, infos, cite)


def _dateline(sentence: str, when: When) -> bool:
    """A date line or byline ("Published 15 September 2023."): the date of the report, not of an event."""
    return len(words(sentence[:when.start] + sentence[when.end:])) < MIN_EVENT_WORDS


def copies_of(s: Sentence, texts: dict[str, str]) -> list[tuple[str, int, int]]:
    """The sentence where the wire copies of its passage ran it, at its exact offsets there."""
    out = []
    for copy in s.passage.copies if s.passage else []:
        text = texts.get(copy.doc_id)
        if text is None:
            continue
        lo = max(0, copy.start - len(s.text))
        at = text.find(s.text, lo, copy.end + len(s.text))
        if at >= 0:
            out.append((copy.doc_id, at, at + len(s.text)))
    return out


def _overlap(a: str, b: str) -> float:
    """Share of the shorter sentence's words (dates aside) that the other has too."""
    ta, tb = terms(a) - _date_terms(), terms(b) - _date_terms()
    return len(ta & tb) / min(len(ta), len(tb)) if ta and tb else 0.0


@lru_cache(maxsize=1)
def _date_terms() -> frozenset[str]:
    return frozenset(terms(" ".join(DATE_WORDS)) | {str(i) for i in range(1, 32)})


def _merge(events: list[_Event], embed: Callable[[list[str]], np.ndarray]) -> list[_Row]:
    """One row per event: the same date, and sentences close in meaning or words."""
    if not events:
        return []
    texts = list(dict.fromkeys(e.sentence.text for e in events))
    vectors = dict(zip(texts, embed(texts)))  # the ranker embedded them already: the cache has them

    def close(a: _Event, b: _Event) -> float:
        return float(vectors[a.sentence.text] @ vectors[b.sentence.text])

    rows: list[_Row] = []
    for e in events:
        row = next((r for r in rows if r.events[0].when.iso == e.when.iso
                    and r.events[0].when.precision == e.when.precision
                    and (close(r.events[0], e) >= MERGE_COSINE
                         or _overlap(r.events[0].sentence.text, e.sentence.text) >= MERGE_OVERLAP)), None)
        if row is None:
            rows.append(_Row([e]))
        elif all(x.sentence.doc_id != e.sentence.doc_id for x in row.events):
            row.events.append(e)
    # The same event dated differently by two reports: only sentences that state one day each are compared,
    # as a sentence with two dates does not say which of its words go with which.
    for i, r in enumerate(rows):
        for other in rows[:i]:
            if (r.events[0].when.day != other.events[0].when.day
                    and not {x.sentence.doc_id for x in r.events} & {x.sentence.doc_id for x in other.events}
                    and any(_disagree(a, b, close) for a in r.events for b in other.events)):
                r.conflicts.append(other)
                other.conflicts.append(r)
    return rows


def _disagree(a: _Event, b: _Event, close: Callable[[_Event, _Event], float]) -> bool:
    """Two sentences that each state one day, differently, for what reads as the same event."""
    return (a.single and b.single and a.when.precision == b.when.precision == "day" and bool(a.when.words)
            and bool(b.when.words) and close(a, b) >= CONFLICT_COSINE)


def _models(rows: list[_Row], infos: dict[str, DocumentInfo], cite: Cite) -> list[TimelineEvent]:
    marker = 0
    out: list[TimelineEvent] = []
    for r in rows:
        citations = []
        for e in r.events:
            s = e.sentence
            spans = [(s.doc_id, s.start, s.end), *e.copies]
            for doc_id, start, end in spans:
                if doc_id in infos and all(c.doc_id != doc_id for c in citations):
                    marker += 1
                    citations.append(cite(marker, doc_id, start, end, s.text, s.score))
        first = r.events[0]
        outlets = list(dict.fromkeys(c.source or c.title for c in citations))
        out.append(TimelineEvent(date=first.when.iso, precision=first.when.precision, date_source=first.source,
                                 date_text=first.when.words, date_note=first.note,
                                 text=" ".join(first.sentence.text.split()), outlets=outlets, citations=citations))
    # Conflicts point at rows by index, now that rows are in order and their markers known.
    index = {id(r): i for i, r in enumerate(rows)}
    for r, event in zip(rows, out):
        for other in r.conflicts:
            j = index[id(other)]
            markers = [c.marker for c in out[j].citations]
            event.conflicts.append(TimelineConflict(date=out[j].date, event=j, markers=markers))
    return out


# --- exports --------------------------------------------------------------------------------------------

def to_markdown(topic: str, events: Sequence[TimelineEvent]) -> str:
    """The timeline as a journalist pastes it into a draft: one bullet an event, sources linked."""
    lines = [f"# Timeline: {topic}", ""]
    for i, e in enumerate(events):
        sources = "; ".join(f"[{c.source or c.title}, {c.date or 'undated'}]({c.url})" if c.url
                            else f"{c.source or c.title}, {c.date or 'undated'} ({c.path})" for c in e.citations)
        when = e.date + ("" if e.date_source == "stated" else f" ({e.date_note})")
        lines.append(f"- **{when}**: {e.text} ({sources})")
        for c in e.conflicts:
            lines.append(f"  - ⚠ dated {c.date} by another report (event {c.event + 1})")
        if i == len(events) - 1:
            lines.append("")
    return "\n".join(lines)


def to_csv(events: Sequence[TimelineEvent]) -> str:
    """date, precision, date_source, event, outlets, links: one row an event."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "precision", "date_source", "event", "outlets", "links", "conflicting_dates"])
    for e in events:
        writer.writerow([e.date, e.precision, e.date_source, e.text, "; ".join(e.outlets),
                         " ".join(c.url or f"{c.path}#{c.start}-{c.end}" for c in e.citations),
                         "; ".join(c.date for c in e.conflicts)])
    return out.getvalue()

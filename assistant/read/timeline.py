"""Timelines: the dated events the reports state about a topic, in the order they happened.

- Dates are found and resolved in dates.py (a relative date, "on Sunday", is counted from the report's
  date: date_source "report date"). A sentence with several dates is dated by its main clause's
  (clauses.py); a sentence whose only date belongs to a subordinate clause ("... after leaving Pyongyang
  on Sunday") is listed at it, its note naming the clause. A sentence with no date of its own is no event.
- Dates well before the reports about the topic (a leader's accession, an earlier visit) are `background`;
  forecasts and plans ("will visit next month", "expected to travel on ... on Friday") are `expected`.
  Each is a list of its own, not interleaved with the events.
- An event row is listed when the topicality model (topicality.py) finds its sentence tells an event of
  the topic, not another story of the same page or a comment on it.
- The same event in several reports (wire copies, or the same date and mostly the same words) is one
  row citing every outlet; reports that date the same event differently are flagged, each cited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from statistics import median_low

import numpy as np

from ..models import TIMELINE_SECTIONS, Citation, DocumentInfo, Passage, TimelineConflict, TimelineEvent
from ..text import sentence_spans, terms, words
from .clauses import Role, roles
from .dates import DATE_WORDS, PRECISION_ORDER, When, dates_in, forward, may_hold_date, period, quoted
from .sentences import Sentence
from .topicality import CORE, WINDOW, Topicality, features, unit


@dataclass(frozen=True)
class Margins:
    """How close to the best a sentence and a report must score to be about the topic, and how old a date is
    background. Fit on the 9 fit topics of evals/sets/timelines.jsonl by evals/fit_timeline.py (event recall
    plus precision; docs/timeline.md has the grid's best and the held-out figures)."""

    sentence: float = 6.0  # a sentence is about the topic when it scores this close to the best one (log-odds)
    report: float = 3.0  # a report is, when its best sentence scores this close to the best of all
    background_days: int = 90  # a date whose period ended this long before the reports' median date


MIN_EVENT_WORDS = 4  # words besides the date a sentence needs to tell an event (not a date line)
# A note added to a report after it ran ("Editor's note: On Thursday, the Bills said ..."): its weekdays are
# on or after the report's date.
LATER_NOTE = re.compile(r"\s*(?:editor['’]s note|updated?\s*:)", re.I)
# A bare weekday six days before its report's date is the day after it: a page updated after the date it
# is filed under ("Families reported relatives missing on Sunday" on a page dated Saturday, updated
# Sunday). Of the labelled rows of evals/sets/timeline_train.jsonl, 13 of 13 such weekdays counted back were
# wrong; "last Sunday" says it means the week before.
BARE_WEEKDAY = re.compile(r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day(?: (?:morning|afternoon|evening|night))?")
UPDATED_DAYS = 6
MAX_SENTENCES = 60  # sentences read for dates: the best of what retrieval found
MAX_REPORTS = 10  # reports whose other sentences with a date are read too: the first ones retrieval found
MAX_DATED_PER_REPORT = 20
# Two reports' sentences are the same event at the same date when this close (cosine, or share of words),
# and flagged as dating it differently when closer still (a study "published on 5 October" and "released
# on 6 October" are 0.78 apart; leaving Pyongyang and crossing the border, 0.67).
MERGE_COSINE = 0.6
MERGE_OVERLAP = 0.3
CONFLICT_COSINE = 0.75

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
            if may_hold_date(text[start:end]):
                taken += 1
                out.append(p.model_copy(update={"start": start, "end": end, "text": text[start:end],
                                                "rank": len(passages) + len(out) + 1, "copies": []}))
    return out


# --- building the timeline ------------------------------------------------------------------------------

@dataclass
class _Event:
    sentence: Sentence
    when: When
    source: str  # stated or report date
    note: str
    single: bool  # its sentence states this one date only
    kind: str = "event"  # event, background or expected
    subordinate: bool = False  # the date is a subordinate clause's
    features: dict[str, float] = field(default_factory=dict)  # what the topicality model reads
    copies: list[tuple[str, int, int]] = field(default_factory=list)  # wire copies: (doc_id, start, end)


@dataclass
class _Row:
    events: list[_Event]
    conflicts: list[_Row] = field(default_factory=list)  # rows dating the same event otherwise


Cite = Callable[[int, str, int, int, str, float], Citation]
Sections = tuple[list[TimelineEvent], list[TimelineEvent], list[TimelineEvent]]


def build(ranked: Sequence[Sentence], texts: dict[str, str], infos: dict[str, DocumentInfo],
          embed: Callable[[list[str]], np.ndarray], cite: Cite, margins: Margins = Margins(), topic: str = "",
          topicality: Topicality | None = None) -> Sections:
    """The timeline's events, background and expected rows from the topic's ranked sentences (the caller
    has checked that the reports cover the topic at all), each oldest first, cited with markers 1.. in
    that order. `cite(marker, doc_id, start, end, quote, score)` makes a citation. Rows come from the
    reports about the topic (whose best sentence scores near the best of all), and among their sentences
    from those near the best; with `topicality`, its events are those the model finds tell an event of
    the topic. `topic`'s words are no sign that two sentences tell the same event."""
    events = candidates(ranked, infos, margins)
    if topicality is not None:
        describe(events, ranked, texts, infos, embed, topic)
        events = [e for e in events if e.kind != "event" or topicality.keeps(e.features)]
    for e in events:
        e.copies = copies_of(e.sentence, texts)
    rows = _merge(events, embed, topic)
    for r in rows:  # the row shows a sentence that states this date alone, when a report has one
        r.events.sort(key=lambda e: not e.single)
    # A coarse date sorts at its period's start: "this year" before September's events.
    rows.sort(key=lambda r: (period(r.events[0].when.day, r.events[0].when.precision)[0],
                             PRECISION_ORDER[r.events[0].when.precision],
                             not r.events[0].when.words, infos[r.events[0].sentence.doc_id].date or ""))
    sections, marker = [], 0
    for kind in TIMELINE_SECTIONS.values():
        section, marker = _models([r for r in rows if r.events[0].kind == kind], infos, cite, marker)
        sections.append(section)
    return sections[0], sections[1], sections[2]


def candidates(ranked: Sequence[Sentence], infos: dict[str, DocumentInfo], margins: Margins = Margins()
               ) -> list[_Event]:
    """Every dating of the sentences near the best (`margins`) of the reports about the topic."""
    if not ranked:
        return []
    best = ranked[0].logit
    report_best: dict[str, float] = {}
    for s in ranked:
        report_best.setdefault(s.doc_id, s.logit)
    relevant = [s for s in ranked if s.logit >= best - margins.sentence and not s.unmet
                and report_best[s.doc_id] >= best - margins.report][:MAX_SENTENCES]
    found = datings([s.text for s in relevant], [_report_date(infos[s.doc_id]) for s in relevant],
                    _anchor(relevant, infos), margins.background_days)
    return [_Event(s, d.when, d.source, d.note, d.single, d.kind, d.subordinate)
            for s, ds in zip(relevant, found) for d in ds]


def _anchor(sentences: Sequence[Sentence], infos: dict[str, DocumentInfo]) -> date | None:
    """The median date of the sentences' reports: background is counted back from it."""
    reported_on = [d for d in (_report_date(infos[doc_id]) for doc_id in {s.doc_id for s in sentences}) if d]
    return median_low(reported_on) if reported_on else None


def describe(events: list[_Event], ranked: Sequence[Sentence], texts: dict[str, str],
             infos: dict[str, DocumentInfo], embed: Callable[[list[str]], np.ndarray], topic: str) -> None:
    """Give each event the features the topicality model reads (topicality.py)."""
    if not events:
        return
    best = ranked[0].logit
    report_best: dict[str, float] = {}
    place: dict[tuple[str, int], int] = {}
    for i, s in enumerate(ranked):
        report_best.setdefault(s.doc_id, s.logit)
        place.setdefault((s.doc_id, s.start), i)
    core = [s.text for s in ranked[:CORE]]
    sentences = list(dict.fromkeys(core + [e.sentence.text for e in events]))
    vectors = dict(zip(sentences, embed(sentences)))  # the ranker embedded them already: the cache has them
    topic_vector, core_vector = embed([topic])[0], unit(np.stack([vectors[t] for t in core]))
    by_report: dict[str, list[np.ndarray]] = {}
    for e in events:
        by_report.setdefault(e.sentence.doc_id, []).append(vectors[e.sentence.text])
    reports = {doc_id: unit(np.stack(vs)) for doc_id, vs in by_report.items()}
    anchor = _anchor([e.sentence for e in events], infos)
    topic_terms = terms(topic) or {""}

    def share(text: str) -> float:
        return len(topic_terms & terms(text)) / len(topic_terms)

    for e in events:
        s = e.sentence
        around = texts[s.doc_id][max(0, s.start - WINDOW):s.end + WINDOW] if s.doc_id in texts else s.text
        shares = {"sentence_share": share(s.text), "window_share": share(around),
                  "title_share": share(infos[s.doc_id].title or "")}
        e.features = features(s.logit, best, report_best[s.doc_id], place.get((s.doc_id, s.start), len(ranked)),
                              vectors[s.text], topic_vector, core_vector, reports[s.doc_id], s.features,
                              (e.when.day - anchor).days if anchor else 0, e.source != "stated",
                              PRECISION_ORDER[e.when.precision], e.subordinate, len(words(s.text)), shares)


@dataclass(frozen=True)
class Dating:
    """The date of an event a sentence reports, and what kind of row it makes."""

    when: When
    source: str  # stated or report date
    note: str  # how the date was found, when not plainly stated
    single: bool  # the sentence states this one date only
    kind: str  # event, background or expected
    subordinate: bool = False  # the date is a subordinate clause's: the main clause's event has none


def datings(sentences: Sequence[str], reported: Sequence[date | None], anchor: date | None = None,
            background_days: int = Margins().background_days) -> list[list[Dating]]:
    """For each sentence (of a report dated `reported[i]`), the dates of the events it reports: its main
    clause's date (one a verb, for verbs joined by "and"), or, when only a subordinate clause has a date,
    that one, its note saying whose date it is. A date bounding a span ("since 2006", "until Wednesday")
    or inside a quotation (the speaker's words) dates nothing, and a sentence with no date of its own gives
    none. `anchor`: the median date of the reports about the topic, which background is counted back from.
    The sentences are parsed in one batch."""
    found = [[w for w in dates_in(text, day) if not _dateline(text, w) and not quoted(text, w.start)]
             if may_hold_date(text) else [] for text, day in zip(sentences, reported)]
    dated = [i for i, whens in enumerate(found) if whens]
    parsed = dict(zip(dated, roles([sentences[i] for i in dated], [[(w.start, w.end) for w in found[i]]
                                                                   for i in dated])))
    return [_datings(found[i], parsed[i], reported[i], anchor, background_days,
                     bool(LATER_NOTE.match(sentences[i]))) if i in parsed else [] for i in range(len(sentences))]


def _datings(whens: list[When], found: list[Role], reported: date | None, anchor: date | None,
             background_days: int, later: bool = False) -> list[Dating]:
    pairs = [(w, r) for w, r in zip(whens, found) if not r.since and not r.opinion]
    if not pairs:
        return []
    depth = min(r.depth for _, r in pairs)
    by_verb: dict[int, list[tuple[When, Role]]] = {}
    for w, r in pairs:
        if r.depth == depth:
            by_verb.setdefault(r.verb, []).append((w, r))
    # "Because of the rain that fell on New Year's Eve, Wednesday's storm could cause severe problems": a
    # forecast's sentence still tells the past event of its subordinate clause, at that clause's date.
    if all(r.future for group in by_verb.values() for _, r in group):
        for w, r in pairs:
            if r.depth > depth and not r.future:
                by_verb.setdefault(r.verb, []).append((w, r))
    out = []
    for group in by_verb.values():
        when, role = group[0]
        updated = not (role.future or later) and _updated(when, reported)
        if (role.future or later or updated) and reported is not None and when.day < reported:  # the same day is today
            when = forward(when, reported)
        ahead = " (a note added later)" if later else " (the page was updated after its date)" if updated else ""
        notes = [] if when.stated else [f"“{when.words}”, counted {'forward ' if later or updated else ''}from the "
                                        f"report's date {reported.isoformat()}{ahead}"]
        if role.depth > depth:
            notes.append(f"the date of “{role.clause}”; the sentence's main event is a forecast")
        elif depth:
            notes.append(f"the date of “{role.clause}”; the sentence's main event is not dated")
        if len(group) > 1:
            notes.append("the sentence also gives " + ", ".join(f"“{w.words}”" for w, _ in group[1:]))
        out.append(Dating(when, "stated" if when.stated else "report date", "; ".join(notes), len(whens) == 1,
                          _kind(when, role, None if later or updated else reported, anchor, background_days),
                          role.depth > 0))
    return out


def _updated(when: When, reported: date | None) -> bool:
    """A bare weekday counted back six days from the report's date: the day after it (BARE_WEEKDAY)."""
    return (reported is not None and not when.stated and BARE_WEEKDAY.fullmatch(when.words) is not None
            and (reported - when.day).days == UPDATED_DAYS)


def _kind(when: When, role: Role, reported: date | None, anchor: date | None, background_days: int) -> str:
    """expected: a forecast or plan, or a date after its report's; background: long before the reports."""
    if role.future or (reported is not None and when.day > reported):
        return "expected"
    if anchor is not None and period(when.day, when.precision)[1] < anchor - timedelta(days=background_days):
        return "background"
    return "event"


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


def _overlap(a: str, b: str, topic: frozenset[str] = frozenset()) -> float:
    """Share of the shorter sentence's words (dates and the topic's words aside: every sentence about
    McCarthy's speaker vote shares "McCarthy", "speaker" and "vote") that the other has too."""
    ta, tb = _terms(a) - topic, _terms(b) - topic
    return len(ta & tb) / min(len(ta), len(tb)) if ta and tb else 0.0


@lru_cache(maxsize=4096)
def _terms(sentence: str) -> frozenset[str]:
    """The sentence's words but its dates' (cached: a row's sentence is compared with every later one)."""
    return frozenset(terms(sentence)) - _date_terms()


@lru_cache(maxsize=1)
def _date_terms() -> frozenset[str]:
    return frozenset(terms(" ".join(DATE_WORDS)) | {str(i) for i in range(1, 32)})


def _merge(events: list[_Event], embed: Callable[[list[str]], np.ndarray], topic: str = "") -> list[_Row]:
    """One row per event: the same date, and sentences close in meaning or words."""
    if not events:
        return []
    texts = list(dict.fromkeys(e.sentence.text for e in events))
    vectors = dict(zip(texts, embed(texts)))  # the ranker embedded them already: the cache has them

    def close(a: _Event, b: _Event) -> float:
        return float(vectors[a.sentence.text] @ vectors[b.sentence.text])

    topic_terms = frozenset(terms(topic))

    def same(a: _Event, b: _Event) -> bool:
        # Two sentences of one report close in meaning are often two events of its story on one day (the
        # 12th ballot and the 15th): within a report, only shared words (the topic's aside) make one event.
        if a.sentence.doc_id != b.sentence.doc_id and close(a, b) >= MERGE_COSINE:
            return True
        return _overlap(a.sentence.text, b.sentence.text, topic_terms) >= MERGE_OVERLAP

    rows: list[_Row] = []
    for e in events:
        row = next((r for r in rows if r.events[0].when.iso == e.when.iso and r.events[0].kind == e.kind
                    and r.events[0].when.precision == e.when.precision and same(r.events[0], e)), None)
        if row is None:
            rows.append(_Row([e]))
        elif all(x.sentence.doc_id != e.sentence.doc_id for x in row.events):
            row.events.append(e)
    # The same event dated differently by two reports: only sentences that state one day each are compared,
    # as a sentence with two dates does not say which of its words go with which.
    for i, r in enumerate(rows):
        for other in rows[:i]:
            if (r.events[0].when.day != other.events[0].when.day and r.events[0].kind == other.events[0].kind
                    and not {x.sentence.doc_id for x in r.events} & {x.sentence.doc_id for x in other.events}
                    and any(_disagree(a, b, close) for a in r.events for b in other.events)):
                r.conflicts.append(other)
                other.conflicts.append(r)
    return rows


def _disagree(a: _Event, b: _Event, close: Callable[[_Event, _Event], float]) -> bool:
    """Two sentences that each state one day, differently, for what reads as the same event."""
    return (a.single and b.single and a.when.precision == b.when.precision == "day" and bool(a.when.words)
            and bool(b.when.words) and close(a, b) >= CONFLICT_COSINE)


def _models(rows: list[_Row], infos: dict[str, DocumentInfo], cite: Cite,
            marker: int) -> tuple[list[TimelineEvent], int]:
    """The rows of one section as models, their citations numbered after `marker`; and the last marker."""
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
                                 date_text=first.when.words, date_note=first.note, kind=first.kind,
                                 text=" ".join(first.sentence.text.split()), outlets=outlets, citations=citations))
    # Conflicts point at rows by index, now that rows are in order and their markers known.
    index = {id(r): i for i, r in enumerate(rows)}
    for r, event in zip(rows, out):
        for other in r.conflicts:
            j = index[id(other)]
            markers = [c.marker for c in out[j].citations]
            event.conflicts.append(TimelineConflict(date=out[j].date, event=j, markers=markers))
    return out, marker

"""Dates in a sentence: found and resolved by `dateparser` (the report's date is the reference for "on
Sunday", "last month" and a date without its year). What no library does is judge which of its finds are
dates at all ("may", "sat" and "73 and may" are found too): a find counts only when it holds a month or
weekday as the report spells it, a year, or a relative anchor ("yesterday", "two days ago", "last week").
Which event of the sentence a date belongs to is clauses.py's part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

PRECISION_ORDER = {"day": 0, "week": 1, "month": 2, "year": 3}

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
MONTH_WORDS = {*MONTHS, "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"}
WEEKDAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
ANCHORS = {"yesterday", "today", "tonight", "tomorrow", "ago"}
UNITS = {"day", "days", "week", "weeks", "month", "months", "year", "years", "weekend"}
PARTS = {"morning", "afternoon", "evening", "night"}  # "last night", "this morning": a day
# Words a date may be made of: a find is trimmed to them ("on Wednesday at a" is "Wednesday").
DATE_WORDS = {w.lower() for w in MONTH_WORDS | WEEKDAYS} | ANCHORS | UNITS | {
    "last", "next", "this", "past", "earlier", "morning", "afternoon", "evening", "night", "of", "the",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "a", "couple"}
EDGE_FILLER = {"of", "the", "a"}  # date words that may sit inside a date, never at its edge
# News tells what happened: a weekday is the last one before the report, unless the sentence tells what
# will happen ("expects ... through Thursday", "attention would turn on Thursday"): then the next one.
# Only the words just before the weekday count: "would" elsewhere is often a condition ("a deal would
# violate international law"), not the future.
FUTURE = {"will", "would", "expects", "expected", "plans", "scheduled", "due", "next", "upcoming", "forecast"}
FUTURE_REACH = 8
# Holidays news dates events by, as the day dateparser reads, never longer than the name it stands for ("on
# New Year's Eve": 31 December). A bare "Christmas" is a date only after "on": "the Christmas storm" names
# a storm, not a day.
HOLIDAYS = {"new year's eve": "Dec 31", "new year's day": "Jan 1", "christmas eve": "Dec 24",
            "christmas day": "Dec 25", "christmas": "Dec 25", "independence day": "Jul 4", "fourth of july": "Jul 4",
            "halloween": "Oct 31", "valentine's day": "Feb 14"}
HOLIDAY = re.compile(r"\b(?:" + "|".join(k.replace("'", "['’]") for k in HOLIDAYS if k != "christmas")
                     + r"|(?<=\bon )christmas(?! eve| day))\b", re.I)
# What dateparser's search misreads, each rewritten to as many characters so offsets hold: "Jan. 2" (it
# stops at the point), "Wednesday's storm", "mid-October".
ABBREVIATED = re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.(?=\s*\d)")
POSSESSIVE = re.compile(r"\b(" + "|".join(sorted(WEEKDAYS)) + r")['’]s\b")
PREFIXED = re.compile(r"\b(mid|early|late)-(?=[A-Z])")
# dateparser's search sometimes ends a find at its month ("on July 7 after a string of scandals" finds "July"):
# the day and year that follow a month are the find's.
MONTH_END = re.compile(r"(?:" + "|".join(sorted(MONTH_WORDS)) + r")\.?$")
DAY_AFTER = re.compile(r"\s+\d{1,2}(?:st|nd|rd|th)?\b(?:,?\s+(?:19|20)\d\d\b)?")
NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "a", "couple"}
# A cheap test before dateparser reads a sentence: a month, weekday, year, anchor or holiday in it.
MAY_HOLD = re.compile(r"\b(?:" + "|".join(sorted(MONTH_WORDS | WEEKDAYS)) + r"|(?:19|20)\d\d)\b|(?i:\b(?:"
                      + "|".join(sorted(ANCHORS)) + "|(?:last|this|next|past) (?:" + "|".join(sorted(UNITS | PARTS))
                      + r"))\b)|(?i:" + HOLIDAY.pattern + ")")


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
    readable, holidays = _readable(sentence)
    try:
        found = search_dates(readable, languages=["en"], settings=settings) or []
    except (ValueError, OverflowError, OSError):
        return []
    out: list[When] = []
    cursor = 0
    for text, _ in found:
        # dateparser gives a find with its spaces collapsed: it is looked for word by word.
        at = re.compile(r"\s+".join(map(re.escape, text.split()))).search(readable, cursor)
        if at is None:
            continue
        end = at.end()
        if MONTH_END.search(readable[at.start():end]) and (day := DAY_AFTER.match(readable, end)):
            end = day.end()
        cursor = end
        for run_start, run_end in _runs(readable, at.start(), end):
            when = _resolve(readable, run_start, run_end, reported)
            if when is None:
                continue
            start, end = when.start, when.end
            for a, b in holidays:  # a holiday read as its day is quoted as the sentence names it
                if a < end and start < b:
                    start, end = min(start, a), max(end, b)
            when = When(when.day, when.precision, when.stated, sentence[start:end], start, end)
            if all(w.iso != when.iso for w in out):
                out.append(when)
    # "The previous August high was set in 1994": a month without its year beside a year is no date of its own.
    years = any(w.precision == "year" and w.stated for w in out)
    return [w for w in out if not any(w is not o and o.within(w) for o in out)
            and not (years and w.precision == "month" and not any(_is_year(x) for x in w.words.split()))]


def _runs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The find text[start:end] cut where a word is no date word: dateparser reads "on Dec 31, Wednesday"
    as one date, which is two."""
    runs: list[tuple[int, int]] = []
    open_at = None
    for m in re.finditer(r"\S+", text[start:end]):
        word = m[0].strip(",.;:()")
        if word and _date_word(word):
            if open_at is None:
                open_at = start + m.start()
            last = start + m.end()
        elif open_at is not None:
            runs.append((open_at, last))
            open_at = None
    if open_at is not None:
        runs.append((open_at, last))
    return runs or [(start, end)]


def _readable(sentence: str) -> tuple[str, list[tuple[int, int]]]:
    """The sentence as dateparser's search reads it right, as long as the sentence, and where holidays are."""
    text = ABBREVIATED.sub(lambda m: m[1] + " ", sentence)
    text = POSSESSIVE.sub(lambda m: m[1] + "  ", text)
    text = PREFIXED.sub(lambda m: m[1] + " ", text)
    spans = []
    for m in HOLIDAY.finditer(sentence):
        day = HOLIDAYS[m[0].lower().replace("’", "'")]
        text = text[:m.start()] + day.ljust(len(m[0])) + text[m.end():]
        spans.append((m.start(), m.end()))
    return text, spans


def _resolve(sentence: str, start: int, end: int, reported: date | None) -> When | None:
    """The find sentence[start:end] as a date, or None when it is not one (see the module's docstring)."""
    tokens = [(m, m.strip(",.;:()")) for m in sentence[start:end].split()]
    keep = [i for i, (_, word) in enumerate(tokens) if _date_word(word)]
    if not keep:
        return None
    # The last run of date words unbroken by another word ("90 minutes Wednesday morning" is "Wednesday
    # morning"), trimmed of fillers and of numbers that are neither a year nor a day beside a month.
    anchor = next((i for i in reversed(keep) if tokens[i][1].lower() not in EDGE_FILLER), None)
    if anchor is None:
        return None
    first = last = anchor
    while first - 1 >= 0 and _date_word(tokens[first - 1][1]):
        first -= 1
    while last + 1 < len(tokens) and _date_word(tokens[last + 1][1]):
        last += 1
    while True:
        before = (first, last)
        while first <= last and _edge(tokens, first, first + 1):
            first += 1
        while last >= first and _edge(tokens, last, last - 1):
            last -= 1
        if first > last:
            return None
        if (first, last) == before:
            break
    words = [w for _, w in tokens[first:last + 1]]
    # "Jun" of "Jennifer Jun" is no month: an abbreviation counts next to a day's number ("Oct. 5").
    has_month = any(w in MONTHS for w in words) or (any(w.rstrip(".") in MONTH_WORDS for w in words)
                                                    and any(w.isdigit() or _ordinal(w) for w in words))
    has_year = any(_is_year(w) for w in words)
    weekday = any(w in WEEKDAYS for w in words)
    # "TODAY" of "USA TODAY" and "Today" of "BBC Radio 4's Today programme" are names, not days.
    anchored = any(w.lower() in ANCHORS and not _named(sentence, start, w) for w in words) or (
        any(w.lower() in ("last", "next", "this", "past") for w in words)
        and any(w.lower() in UNITS | PARTS for w in words))
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
    # A day and month without a year after "will" ("will meet again on 20 September") is the next one too.
    ahead = not has_year and (weekday or has_month) and bool(FUTURE & before)
    if weekday and not has_month:
        # A report dated Thursday that says "on Thursday" means that day, not the week before or after.
        base += timedelta(days=-1 if ahead else 1)
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


def _edge(tokens: list[tuple[str, str]], at: int, inner: int) -> bool:
    """tokens[at], at an edge of a date (its neighbour inside at `inner`), is not part of it."""
    word = tokens[at][1]
    if word.lower() in EDGE_FILLER or not _date_word(word):
        return True
    if word.isdigit() and not _is_year(word):  # "5" of "Oct. 5" or "5 October", not "90" of "90 minutes"
        return not (0 <= inner < len(tokens) and tokens[inner][1].rstrip(".") in MONTH_WORDS and int(word) <= 31)
    if word.lower() in NUMBER_WORDS:  # "two" of "two weeks ago", not "one" of "on Thursday, one of which"
        return not (0 <= inner < len(tokens) and tokens[inner][1].lower() in UNITS)
    return False


def _named(sentence: str, start: int, word: str) -> bool:
    """An anchor word ("today") spelt as a name: in capitals, or capitalised inside the sentence."""
    if word.isupper() and len(word) > 1:
        return True
    at = sentence.find(word, start)
    return word[:1].isupper() and bool(sentence[:at].strip(" \"“‘'(")) and not re.search(r"[.!?:]\W*$", sentence[:at])


def _date_word(word: str) -> bool:
    return (word.rstrip(".") in MONTH_WORDS or word in WEEKDAYS or word.lower() in DATE_WORDS
            or word.isdigit() or _ordinal(word))


def _ordinal(word: str) -> bool:
    return word[:-2].isdigit() and word[-2:].lower() in ("st", "nd", "rd", "th")


def _is_year(word: str) -> bool:
    return len(word) == 4 and word.isdigit() and word[:2] in ("19", "20")


def may_hold_date(sentence: str) -> bool:
    return MAY_HOLD.search(sentence) is not None


def quoted(sentence: str, at: int) -> bool:
    """Offset `at` lies inside a quotation: the speaker's words, whose dates are not the report's dating."""
    before = sentence[:at]
    if before.count("\u201c") > before.count("\u201d"):
        return True
    return before.count('"') % 2 == 1


def forward(when: When, reported: date) -> When:
    """A date the sentence gives without its year or as a weekday, counted forward from the report's date:
    the parse found its clause tells what will happen ("expects ... a cold front on Friday afternoon")."""
    if when.stated and any(_is_year(w) for w in when.words.split()):
        return when
    parsed = _parse(when.words, datetime.combine(reported, datetime.min.time()), "future")
    if parsed is None or parsed[0] <= reported:
        return when
    return When(parsed[0], when.precision, when.stated, when.words, when.start, when.end)


def period(day: date, precision: str) -> tuple[date, date]:
    """The first and last day of what `day` stands for at `precision` (a month: its first to its last day)."""
    if precision == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    if precision == "month":
        first = day.replace(day=1)
        return first, date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)
    return day, day + timedelta(days=6 if precision == "week" else 0)


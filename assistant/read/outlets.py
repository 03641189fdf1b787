"""Who said what, and what was said later: the answer by outlet, and notes where a later report gives a
cited figure differently. Values and "the same thing" are values.py's, as the answer's disagreements use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import numpy as np

from ..models import Citation, DisagreementValue, DocumentInfo, Filters, OutletView, Update
from .answer import DISAGREEMENT_MARGIN, question_type
from .sentences import Sentence
from .values import Value, same_thing, values

Cite = Callable[[int, str, int, int, str, float], Citation]
VALUE_KINDS = ("number", "date", "duration")
# How close in meaning a later report's sentence must be to the cited one to tell the same fact: the
# corpus's "about 70 freight cars" and "73 freight cars" sentences are 0.6-0.8 apart.
SAME_FACT_COSINE = 0.55
NOT_COVERED = "not covered"


def by_outlet(question: str, ranked: Sequence[Sentence], outlets: Sequence[str], texts: dict[str, str],
              infos: dict[str, DocumentInfo], cite: Cite, answered: bool
              ) -> tuple[list[OutletView], list[DisagreementValue]]:
    """For each outlet, its sentence that best answers the question (or not covered), oldest report first,
    and the values they give when the question asks for a figure, date or duration: an outlet whose value
    is not the one most outlets give is marked (all of them, when no value has a majority). `answered`: the
    best sentence is confident enough to answer at all (else every outlet is not covered)."""
    from .timeline import copies_of

    best: dict[str, tuple[str, int, int, Sentence]] = {}  # outlet: (doc_id, start, end, sentence)
    if ranked and answered:
        floor = ranked[0].logit - DISAGREEMENT_MARGIN
        for s in ranked:
            if s.logit < floor:
                break
            if s.unmet:
                continue
            # A wire copy is the same sentence in another outlet's report: that outlet says it too.
            for doc_id, start, end in [(s.doc_id, s.start, s.end), *copies_of(s, texts)]:
                if doc_id in infos:
                    best.setdefault(_outlet(infos[doc_id]), (doc_id, start, end, s))
    covered = sorted(best.items(), key=lambda item: (infos[item[1][0]].date or "9999", item[0]))
    kind = question_type(question)
    anchor = covered[0][1][3].text if covered else ""
    found = {name: _value(kind, s.text, anchor) for name, (_, _, _, s) in covered}
    counts = Counter(v.key for v in found.values() if v is not None)
    top = counts.most_common(2)
    majority = top[0][0] if len(top) == 1 or (len(top) == 2 and top[0][1] > top[1][1]) else None
    views, groups = [], {}
    for marker, (name, (doc_id, start, end, s)) in enumerate(covered, start=1):
        value = found.get(name)
        views.append(OutletView(outlet=name, covered=True, text=" ".join(s.text.split()),
                                value=value.text if value else None,
                                citation=cite(marker, doc_id, start, end, s.text, s.score),
                                differs=len(counts) > 1 and value is not None and value.key != majority))
        if value is not None:
            groups.setdefault(value.key, DisagreementValue(value=value.text, markers=[])).markers.append(marker)
    views += [OutletView(outlet=name, covered=False) for name in outlets if name not in best]
    return views, list(groups.values())


def _value(kind: str | None, text: str, anchor_text: str) -> Value | None:
    """The value of the asked kind a sentence gives for the same thing as the first outlet's sentence."""
    if kind not in VALUE_KINDS:
        return None
    anchor = next(iter(values(anchor_text, kind)), None)
    return next((v for v in values(text, kind) if anchor is None or same_thing(anchor, v)), None)


def _outlet(info: DocumentInfo) -> str:
    return info.source or info.title


def later_scope(question: str, citations: Sequence[Citation], filters: Filters | None) -> Filters | None:
    """The reports to look in for newer values: published after the earliest cited report that gives a value
    of the kind asked, within the question's filters; None when there is nothing to look for."""
    kind = question_type(question)
    dated = [c.date for c in citations if kind in VALUE_KINDS and c.date and values(c.quote, kind)]
    if not dated:
        return None
    since = (date.fromisoformat(min(dated)) + timedelta(days=1)).isoformat()
    filters = filters or Filters()
    if filters.since and filters.since > since:
        since = filters.since
    if filters.until and filters.until < since:
        return None  # the question's scope ends before any later report
    return filters.model_copy(update={"since": since})


def updates(question: str, citations: list[Citation], later: Sequence[Sentence], infos: dict[str, DocumentInfo],
            cite: Cite, embed: Callable[[list[str]], np.ndarray]) -> tuple[list[Update], list[Citation]]:
    """For each cited value, the newest report after it (among `later`, ranked for the same question) that
    gives the same thing a different value: the same kind of value, the same unit, in a sentence close in
    meaning to the cited one (a derby's "two points behind" is not the market's "4,812.6 points"). New
    citations for later reports not cited yet are returned too."""
    kind = question_type(question)
    if not later or kind not in VALUE_KINDS:
        return [], []
    floor = later[0].logit - DISAGREEMENT_MARGIN
    candidates = [s for s in later if s.logit >= floor and not s.unmet]
    texts = list(dict.fromkeys([c.quote for c in citations] + [s.text for s in candidates]))
    vectors = dict(zip(texts, embed(texts))) if candidates else {}
    out: list[Update] = []
    added: list[Citation] = []
    for c in citations:
        value = next(iter(values(c.quote, kind)), None)
        if value is None or not c.date:
            continue
        newer = []
        for s in candidates:
            reported = infos[s.doc_id].date
            other = next((v for v in values(s.text, kind) if same_thing(value, v)), None)
            if (reported and reported > c.date and other is not None and other.key != value.key
                    and float(vectors[c.quote] @ vectors[s.text]) >= SAME_FACT_COSINE):
                newer.append((reported, s.logit, s, other))
        if not newer:
            continue
        # A later report the answer cites already is named first (no new citation), else the newest.
        def cited(s: Sentence) -> Citation | None:
            return next((x for x in [*citations, *added] if x.doc_id == s.doc_id and x.start <= s.start < x.end), None)

        _, _, s, other = max(newer, key=lambda n: (cited(n[2]) is not None, n[0], n[1]))
        known = cited(s)
        if known is None:
            known = cite(len(citations) + len(added) + 1, s.doc_id, s.start, s.end, s.text, s.score)
            added.append(known)
        out.append(Update(marker=c.marker, value=value.text, later_value=other.text, later=known))
    return out, added


def update_sentence(update: Update) -> str:
    where = ", ".join(x for x in (update.later.source or update.later.title, update.later.date) if x)
    return f"A later report ({where}) gives {update.later_value} [{update.later.marker}]."

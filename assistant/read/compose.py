"""Compose the answer the user sees: its text, a citation for every sentence (the exact span, its report's
outlet, date and wire copies), the sentences with their verdicts, and notes where a later report in scope
gives a cited value differently. The extractive answer, selection mode and the verified LLM answer all end
here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..models import AnswerSentence, Citation, DocumentInfo, Filters, Passage, Update
from ..search.library import Found, Searcher
from .answer import ABSTAIN, Extracted, ExtractiveAnswerer
from .respond import Reading
from .sentences import Sentence


@dataclass
class Composed:
    text: str
    citations: list[Citation]
    sentences: list[AnswerSentence]
    updates: list[Update] = field(default_factory=list)


class Composer:
    """Searches again only for what composing needs: later reports that may give a cited value anew."""

    def __init__(self, searcher: Searcher, answerer: ExtractiveAnswerer, embed: Callable, top_k: int):
        self.searcher = searcher
        self.answerer = answerer
        self.embed = embed
        self.top_k = top_k

    def compose(self, question: str, reading: Reading, found: Found, filters: Filters | None,
                strict: bool) -> Composed:
        """The answer as the user sees it, with notes where a later report in scope gives a cited value anew."""
        if reading.checks is None:
            composed = self.extracted(reading.extracted, found)
        else:
            composed = self.verified(reading.checks, found, strict)
            if reading.extracted is not None:  # nothing the model wrote is supported: the reports' own sentences
                own = self.extracted(reading.extracted, found)
                note = "the model's answer had no support: the answer is the reports' own sentences"
                flagged = [s.model_copy(update={"flags": [*s.flags, note]}) for s in composed.sentences]
                composed = Composed(own.text, own.citations, flagged + own.sentences)
        return self.with_updates(question, composed, filters) if composed.citations else composed

    def extracted(self, extracted: Extracted, found: Found) -> Composed:
        """The answer made of report sentences: each is its own quote, verbatim, so supported by construction."""
        citations, sentences = [], []
        for sel in extracted.selected:
            s = sel.sentence
            citations.append(citation(sel.marker, found.infos[s.doc_id], s.start, s.end, s.text, s.score,
                                      found.passages))
            sentences.append(AnswerSentence(text=" ".join(s.text.split()), markers=[sel.marker], supported=True,
                                            support_score=1.0))
        return Composed(extracted.text, citations, sentences)

    def verified(self, checks: list, found: Found, strict: bool) -> Composed:
        """The verified LLM answer: each sentence cites the span that supports it (markers numbered anew in
        order); unsupported sentences are flagged, or dropped when strict; nothing supported: abstain."""
        if not any(c.supported for c in checks):
            return Composed(ABSTAIN, [], [AnswerSentence(text=c.text, markers=[], supported=False,
                                                         support_score=c.score, flags=c.flags) for c in checks])
        citations: list[Citation] = []
        markers: dict[tuple[str, int, int, bool, bool], int] = {}
        parts, sentences = [], []
        for c in checks:
            if strict and not c.supported:
                sentences.append(AnswerSentence(text=c.text, markers=[], supported=False, support_score=c.score,
                                                flags=[*c.flags, "removed (strict)"]))
                continue
            marks = []
            if c.span is not None and (c.supported or c.markers):
                # The same quote cited in vain, or by a sentence whose citation was moved, is a citation of its own.
                key = (c.span.doc_id, c.span.start, c.span.end, c.supported, c.repaired)
                if key not in markers:
                    markers[key] = len(citations) + 1
                    citations.append(citation(markers[key], found.infos[c.span.doc_id], c.span.start, c.span.end,
                                              c.span.text, c.score, found.passages, c.score, c.supported,
                                              c.repaired))
                marks = [markers[key]]
            parts.append(c.text + "".join(f" [{m}]" for m in marks))
            sentences.append(AnswerSentence(text=c.text, markers=marks, supported=c.supported,
                                            support_score=c.score, flags=c.flags))
        return Composed(" ".join(parts), citations, sentences)

    def with_updates(self, question: str, composed: Composed, filters: Filters | None) -> Composed:
        """Notes for cited values that a later report in scope gives differently (outlets.py)."""
        from .outlets import later_scope, update_sentence, updates

        scope = later_scope(question, composed.citations, filters)
        if scope is None:
            return composed
        ranked, found = self.ranked(question, scope, self.top_k)
        new, added = updates(question, composed.citations, ranked, found.infos, citer(found), self.embed)
        text = composed.text + (" " + " ".join(update_sentence(u) for u in new) if new else "")
        return Composed(text, composed.citations + added, composed.sentences, new)

    def ranked(self, text: str, filters: Filters | None, top_k: int, dated: bool = False
               ) -> tuple[list[Sentence], Found]:
        """The passages `text` retrieves, with their wire copies' reports, and their sentences ranked against
        it. `dated`: the sentences of those reports that may hold a date are ranked too (a timeline's events
        are often in a report's other paragraphs: "It crossed into Russia on 12 September")."""
        found = self.searcher.search(text, top_k, filters, copies=True)
        if found.empty:
            return [], found
        scored = found.passages
        if dated:
            from .timeline import dated_sentences

            scored = found.passages + dated_sentences(found.passages, found.texts)
        # A timeline reads every dated sentence: its events are not the ones most like the topic's words.
        limit = None if dated else -1
        return self.answerer.score(text, scored, found.texts, found.titles, found.dates, limit=limit), found


def citer(found: Found) -> Callable[..., Citation]:
    """cite(marker, doc_id, start, end, quote, score): a citation of a span of one of `found`'s reports."""
    def cite(marker: int, doc_id: str, start: int, end: int, quote: str, score: float) -> Citation:
        return citation(marker, found.infos[doc_id], start, end, quote, score, found.passages)

    return cite


def citation(marker: int, info: DocumentInfo, start: int, end: int, quote: str, score: float,
             passages: list[Passage], support_score: float = 1.0, supported: bool = True,
             repaired: bool = False) -> Citation:
    return Citation(marker=marker, doc_id=info.doc_id, title=info.title, source=info.source, author=info.author,
                    date=info.date, url=info.url, path=info.path, quote=quote, start=start, end=end, score=score,
                    also_in=_copies(passages, info.doc_id, start), supported=supported,
                    support_score=support_score, repaired=repaired)


def _copies(passages: list, doc_id: str, start: int) -> list:
    """The wire copies of the passage that holds a cited sentence."""
    for p in passages:
        if p.doc_id == doc_id and p.start <= start < p.end:
            return p.copies
    return []

"""Read the passages found for a question: what answers it, before it is composed (compose.py).

- No LLM: the extractive answerer's report sentences (answer.py).
- Selection mode: the report sentences an LLM picks by number (generate.py), or the extractive choice when
  its reply names none.
- Writing mode: the LLM's own sentences, each checked by the verifier (verify.py). When none is supported
  (small models often decline when the answer is there), the extractive answer is the fallback: with it,
  small models answered more questions right than either alone (docs/generative.md).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

from ..models import Disagreement
from ..search.library import Found
from .answer import Extracted, ExtractiveAnswerer


@dataclass
class Reading:
    """`extracted`: the report sentences that answer (or the fallback, when `checks` has no supported one);
    `checks`: the verifier's verdicts on an LLM's own sentences."""

    answerer: str
    confidence: float
    extracted: Extracted | None = None
    checks: list | None = None
    disagreements: list[Disagreement] = field(default_factory=list)


def read(question: str, query: str, found: Found, answerer: ExtractiveAnswerer, verifier, llm, name: str,
         mode: str, stream: bool) -> Generator[str, None, Reading]:
    """`llm`: a generate.GenerativeAnswerer, or None; `name`: what answers, as the Answer reports it; `mode`:
    "write" or "select". Yields the answer's text as it is written when `stream`."""
    args = (found.passages, found.texts, found.titles, found.dates)
    if llm is None or mode == "select":
        if llm is None:
            # A follow-up's passages come from the question with what it follows ("he" is Kim), and the
            # reader reads it with what it follows too.
            earlier = query.removesuffix(question).strip() if query != question else ""
            extracted = answerer.answer(question, *args, earlier)
        else:
            ranked = answerer.score(question, *args)
            extracted = llm.select(query, ranked, answerer) if ranked else None
            if extracted is None:  # the model named no sentence and did not say none does: the extractive choice
                extracted = answerer.answer(question, *args)
        if stream:
            yield extracted.text
        return Reading(name, extracted.confidence, extracted, disagreements=extracted.disagreements)
    written = yield from llm.answer(query, found, stream)
    checks = verifier.check(written, *args[:3], query, found.dates)
    # How likely the passages answer the question: the extractive answerer's view of the same passages (the
    # verifier has already removed what they do not support).
    ranked = answerer.score(question, *args)
    confidence = answerer.confidence(ranked) if ranked else 0.0
    if not any(c.supported for c in checks) and found.passages:
        extracted = answerer.answer(question, *args)
        if extracted.selected:
            return Reading("extractive", confidence, extracted, checks, extracted.disagreements)
    return Reading(name, confidence, checks=checks)

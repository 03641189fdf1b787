"""Generate: an LLM writes the answer from numbered passages, citing [n] after each sentence.

The LLMs (OpenAI-compatible servers, Ollama, llama.cpp) are built in llms.py, only from what the settings
name: nothing remote is called unless the user gave its URL, and nothing falls back to OpenAI. What the
model writes is checked sentence by sentence afterwards (verify.py).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator

from ..search.library import Found
from ..text import passage_window
from .answer import ABSTAIN, Extracted, ExtractiveAnswerer, compose
from .llms import LLMError, make_llm  # noqa: F401  (make_llm: for the callers that import it from here)
from .sentences import Sentence

NO_ANSWER = "The reports do not say."
SELECT_CANDIDATES = 12  # report sentences shown to an LLM in selection mode: a short prompt for small models
# Written for the small models journalists run on a laptop (0.5-1.5B, measured in evals/llm_stick.py): the
# earlier prompt's "if the passages do not answer, reply only ..." talked a 1.5B model out of 9 answers in
# 11. Answer first; abstain only when nothing bears on the question (the verifier catches what is wrong).
SYSTEM = (
    "You answer a journalist's question from the numbered passages of news reports below. Answer first, in at "
    "most {sentences} short sentences, with names, numbers and dates written as the passages write them, and end "
    "every sentence with the number of its passage in square brackets, like [2]. Use only the passages. Answer "
    "even when the passages give only part of the answer. Only when no passage has anything to do with the "
    f"question, reply exactly: {NO_ANSWER}"
)
# Selection mode: the model picks report sentences by number; they become the answer verbatim.
SELECT = (
    "You pick the sentences that answer a journalist's question. The numbered sentences below are quoted from "
    "news reports. Reply with the numbers of the sentences that answer the question, best first, at most "
    "{sentences}, separated by commas, like: 3, 7. Pick a sentence when it answers even part of the question. "
    "Only when no sentence has anything to do with the question, reply: none"
)


class GenerativeAnswerer:
    """Prompts an LLM with numbered passages and returns what it wrote (verification comes after)."""

    def __init__(self, llm, max_sentences: int):
        self.llm = llm
        self.max_sentences = max_sentences

    def answer(self, query: str, found: Found, stream: bool) -> Generator[str, None, str]:
        """Prompts the LLM with the passages widened to whole sentences; yields its text as it comes when
        streaming; returns all of it."""
        if not found.passages:  # nothing to answer from: no call, and the verifier abstains
            return ""
        sources = []
        for p in found.passages:
            text = found.texts[p.doc_id]
            start, end = passage_window(text, p.start, p.end)
            sources.append((found.infos[p.doc_id].date, " ".join(text[start:end].split())))
        messages = self.messages(query, sources)
        if not stream:
            return self.write(messages)
        parts = []
        for delta in self.stream(messages):
            parts.append(delta)
            yield delta
        return "".join(parts)

    def select(self, query: str, ranked: list[Sentence], answerer: ExtractiveAnswerer) -> Extracted | None:
        """Selection mode: the LLM is shown the best report sentences, numbered, and answers with numbers;
        the sentences it names are the answer, verbatim. None when its reply names none. Below the
        extractive answerer's confidence threshold it abstains without asking: small models pick
        something for nearly every question (a 0.5B model for 15 of 15 unanswerable ones: docs/generative.md)."""
        confidence = answerer.confidence(ranked)
        if confidence < answerer.min_confidence:
            return Extracted(ABSTAIN, [], confidence)
        candidates = ranked[:SELECT_CANDIDATES]
        picked = self.selection(self.write(self.select_messages(query, [s.text for s in candidates])),
                                len(candidates))
        if picked is None:
            return None
        if not picked:
            return Extracted(ABSTAIN, [], confidence)
        return compose([candidates[n - 1] for n in picked], confidence)

    def messages(self, question: str, sources: list[tuple[str | None, str]]) -> list:
        """The chat for `question` over `sources`: (the report's date or None, passage text), numbered from
        1. No titles or outlets: small models copy them into the answer."""
        from llama_index.core.llms import ChatMessage

        # "[1] text" lines made a 0.5B model answer "[1] [2] [3]"; "Passage [1], date:" above the text did not.
        numbered = "\n\n".join(f"Passage [{n}]{f', {date}' if date else ''}:\n{text}"
                                 for n, (date, text) in enumerate(sources, start=1))
        return [ChatMessage(role="system", content=SYSTEM.format(sentences=self.max_sentences)),
                ChatMessage(role="user", content=f"Passages:\n\n{numbered}\n\nQuestion: {question}\nAnswer:")]

    def select_messages(self, question: str, sentences: list[str]) -> list:
        """The chat for selection mode: report sentences numbered from 1."""
        from llama_index.core.llms import ChatMessage

        numbered = "\n".join(f"[{n}] {' '.join(text.split())}" for n, text in enumerate(sentences, start=1))
        return [ChatMessage(role="system", content=SELECT.format(sentences=self.max_sentences)),
                ChatMessage(role="user", content=f"Sentences:\n{numbered}\n\nQuestion: {question}\nNumbers:")]

    def selection(self, reply: str, count: int) -> list[int] | None:
        """The sentence numbers (from 1) a selection-mode reply names, best first; [] when it says none
        answers; None when it names none of the `count` and does not say so (the reply is unusable)."""
        picked = [n for n in dict.fromkeys(int(x) for x in re.findall(r"\d+", reply)) if 1 <= n <= count]
        if picked:
            return picked[:self.max_sentences]
        return [] if re.search(r"\bnone\b|do(?:es)? not say|no sentence", reply, re.I) else None

    def write(self, messages: list) -> str:
        try:
            return self.llm.chat(messages).message.content or ""
        except Exception as exc:  # the integrations raise their clients' own errors
            raise LLMError(f"the LLM failed: {exc}") from exc

    def stream(self, messages: list) -> Iterator[str]:
        try:
            for chunk in self.llm.stream_chat(messages):
                if chunk.delta:
                    yield chunk.delta
        except Exception as exc:
            raise LLMError(f"the LLM failed: {exc}") from exc

    def condense(self, question: str, history: list[dict]) -> str:
        """A follow-up ("And when did it start?") rewritten as a question that stands alone, with
        llama-index's condense-question prompt."""
        from llama_index.core.base.llms.generic_utils import messages_to_history_str
        from llama_index.core.chat_engine.condense_question import DEFAULT_PROMPT
        from llama_index.core.llms import ChatMessage

        turns = [ChatMessage(role=m["role"], content=str(m.get("content", ""))) for m in history
                 if m.get("role") in ("user", "assistant")]
        if not turns:
            return question
        try:
            rewritten = self.llm.predict(DEFAULT_PROMPT, question=question,
                                         chat_history=messages_to_history_str(turns[-6:]))
        except Exception as exc:
            raise LLMError(f"the LLM failed: {exc}") from exc
        return " ".join(rewritten.split()) or question

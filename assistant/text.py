"""Text primitives every stage shares: words and their stems, the one sentence splitter, and a chunk widened
to whole sentences. What the keyword index, the reader and the verifier count as a word, and which words
carry no meaning of their own in a question."""

from __future__ import annotations

import os
import re
from functools import lru_cache

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours out over own same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you
your yours also said says say tell told according report reports reported show shows showed shown many much long
kind way ever yet still well
""".split())  # noqa: SIM905
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
POSSESSIVE = re.compile(r"'s$")
WINDOW_REACH = 300  # characters a passage is widened by, at most, to whole sentences


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as (start, end) offsets into `text`, whitespace trimmed. Text is cut
    into blocks first, so that a heading, byline or date line is never glued to the sentence after it,
    while a sentence hard-wrapped over several lines stays whole."""
    tokenizer = _punkt()
    spans = []
    for block_start, block_end in _blocks(text, start, end):
        base = block_start
        for a, b in tokenizer.span_tokenize(text[block_start:block_end]):
            piece = text[base + a: base + b]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if b - trail > a + lead:
                spans.append((base + a + lead, base + b - trail))
    return spans


SOFT_WRAP_MIN = 50  # a line at least this long, ending mid-sentence, was wrapped, not ended


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraph-like blocks of text[start:end]: a blank line always ends one; a single line break ends
    one unless the line was wrapped mid-sentence (the next line starts in lower case, or a long line
    stops without closing punctuation)."""
    lines = [(m.start() + start, m.end() + start) for m in re.finditer(r"[^\n]+", text[start:end])]
    blocks: list[list[int]] = []
    for a, b in lines:
        if blocks:
            prev_a, prev_b = blocks[-1]
            line, previous = text[a:b].lstrip(), text[prev_a:prev_b].rstrip()
            blank_between = "\n\n" in text[prev_b:a] or text[prev_b:a].count("\n") > 1
            wrapped = line[:1].islower() or (
                len(previous.split("\n")[-1]) >= SOFT_WRAP_MIN and not re.search(r"[.!?:;\"”')\]]$", previous)
                and not re.match(r"[#>*-]|\d+[.)]\s", line))
            if not blank_between and wrapped and not previous.lstrip().startswith("#"):
                blocks[-1][1] = b
                continue
        blocks.append([a, b])
    return [(a, b) for a, b in blocks]


@lru_cache(maxsize=1)
def _punkt():
    import llama_index.core
    import nltk

    # llama-index ships NLTK's English Punkt tables: nothing is downloaded.
    data = os.path.join(os.path.dirname(llama_index.core.__file__), "_static", "nltk_cache")
    if data not in nltk.data.path:
        nltk.data.path.insert(0, data)
    from nltk.tokenize import PunktTokenizer

    tokenizer = PunktTokenizer("english")
    # Punkt's English tables lack the times of day: "shortly after 3 p.m. on Tuesday" is one sentence.
    tokenizer._params.abbrev_types.update({"a.m", "p.m"})
    return tokenizer


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    return _stemmer().stem(word)


def words(text: str) -> list[str]:
    """The words of `text` that count as terms, lower-cased, in order (stopwords left out). A hyphenated
    word counts as its parts: "Kim Jong-un" and "Kim Jong Un" are the same name."""
    parts = (p for w in WORD.findall(text) for p in POSSESSIVE.sub("", w.lower().replace("’", "'")).split("-"))
    return [w for w in (p.strip("'") for p in parts) if w and w not in STOPWORDS]


def terms(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def passage_window(text: str, start: int, end: int) -> tuple[int, int]:
    """A chunk widened to whole sentences (sentence_spans'): chunks are cut by word pieces, sentences are what
    is quoted. It reaches WINDOW_REACH characters each way at most; a sentence longer than that is cut where the
    chunk is."""
    low, high = max(0, start - WINDOW_REACH), min(len(text), end + WINDOW_REACH)
    spans = sentence_spans(text, low, high)
    new_start, new_end = start, end
    for i, (a, b) in enumerate(spans):
        if a <= start < b and (i or low == 0):  # the window's first sentence may have begun before it
            new_start = a
        if a < end <= b and (i < len(spans) - 1 or high == len(text)):
            new_end = b
    return new_start, max(new_end, end)

"""Answer: retrieved passages -> a short answer made of report sentences, each with its citation.

The extractive answerer needs no LLM. It splits the retrieved passages into sentences (with their offsets
in the document text), scores each against the question, and answers with the best few, or abstains
when none is good enough. No library does this sentence selection with exact offsets, hence the code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .models import Passage

ABSTAIN = "The reports do not say. None of the retrieved passages answers this question."

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours out over own same she should so some such than that the their theirs them then there
these they this those through to too under until up very was we were what when where which while who whom why
will with would you your yours also said says say tell told according report reports reported show shows showed
shown many much long kind way ever yet still well
""".split())
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
          "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                "hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|half")
PATTERNS = {
    "number": re.compile(rf"\d|\b({NUMBER_WORDS})\b", re.I),
    "date": re.compile(rf"\b(\d{{4}}|{MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                       r"yesterday|today|week|month|year|day|since|until|ago)\b", re.I),
    "duration": re.compile(rf"\b(\d+|{NUMBER_WORDS}|a|an)[ -](minute|hour|day|week|month|year|decade)s?\b", re.I),
    "name": re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+"),
}
QUESTION_TYPES = [
    (re.compile(r"^\s*how (long|many (days|weeks|months|years|hours))\b", re.I), "duration"),
    (re.compile(r"\b(how many|how much|what number|what percentage|what share|how big|how large|"
                r"what (was|is) the (total|number|figure|amount|price|score))\b", re.I), "number"),
    (re.compile(r"^\s*(when|what (date|day|year|month|time)|which (date|day|year|month))\b", re.I), "date"),
    (re.compile(r"^\s*(who|whom|whose|which (analysts|people|officials|leader|country|countries))\b", re.I), "name"),
    (re.compile(r"^\s*(where|in which|at which|which (city|station|port|place|site))\b", re.I), "name"),
]


@dataclass
class Sentence:
    doc_id: str
    start: int
    end: int
    text: str
    passage: Passage
    score: float = 0.0
    coverage: float = 0.0  # share of the question's key terms in this sentence, its passage and title


@dataclass
class Selected:
    sentence: Sentence
    marker: int


class ExtractiveAnswerer:
    def __init__(self, embed: Callable[[list[str]], np.ndarray], max_sentences: int, min_score: float,
                 min_coverage: float):
        self.embed = embed
        self.max_sentences = max_sentences
        self.min_score = min_score
        self.min_coverage = min_coverage

    def answer(self, question: str, query_vector: np.ndarray, passages: list[Passage],
               texts: dict[str, str], titles: dict[str, str]) -> tuple[str, list[Selected]]:
        """Returns (answer text with [n] markers, the cited sentences); no sentences means abstention."""
        candidates = self.score(question, query_vector, passages, texts, titles)
        chosen: list[Sentence] = []
        for s in candidates:
            if len(chosen) >= self.max_sentences:
                break
            if s.score < self.min_score or s.coverage < self.min_coverage:
                break  # sorted: nothing after is good enough either
            if chosen and s.score < chosen[0].score - 0.08:
                break
            if any(_same_content(s.text, c.text) for c in chosen):
                continue  # a wire copy or an overlap: one quote is enough
            chosen.append(s)
        if not chosen:
            return ABSTAIN, []
        selected = [Selected(s, i) for i, s in enumerate(chosen, start=1)]
        return " ".join(f"{sel.sentence.text} [{sel.marker}]" for sel in selected), selected

    def score(self, question: str, query_vector: np.ndarray, passages: list[Passage], texts: dict[str, str],
              titles: dict[str, str]) -> list[Sentence]:
        """Every sentence of the passages, best first, with its score and question coverage."""
        sentences = self._sentences(passages, texts, titles)
        if not sentences:
            return []
        vectors = self.embed([s.text for s in sentences])
        cosines = vectors @ np.asarray(query_vector)
        weights = _question_terms(question)
        required = {t for t in weights if t.isdigit()}  # a year or figure asked about must be there
        qtype = next((kind for pattern, kind in QUESTION_TYPES if pattern.search(question)), None)
        total = sum(weights.values()) or 1.0
        # A sentence's context is what the reader sees with it: its report's title and retrieved passages.
        contexts: dict[str, set[str]] = {}
        for p in passages:
            contexts.setdefault(p.doc_id, _terms(titles.get(p.doc_id, ""))).update(_terms(p.text))
        for s, cos in zip(sentences, cosines):
            own = _terms(s.text)
            context = own | contexts[s.doc_id]
            in_sentence = sum(w for t, w in weights.items() if t in own) / total
            s.coverage = sum(w for t, w in weights.items() if t in context) / total if weights else 1.0
            if required - context:
                s.coverage = 0.0
            typed = 1.0 if qtype is None or PATTERNS[qtype].search(s.text) else 0.0
            s.score = round(float(0.55 * cos + 0.25 * in_sentence + 0.05 * s.coverage + 0.15 * typed), 4)
        return sorted(sentences, key=lambda s: (-s.score, s.passage.rank, s.start))

    def _sentences(self, passages: list[Passage], texts: dict[str, str], titles: dict[str, str]) -> list[Sentence]:
        seen: set[tuple[str, int]] = set()
        out = []
        for p in passages:
            text = texts.get(p.doc_id)
            if text is None:
                continue
            for start, end in sentence_spans(text, p.start, p.end):
                sentence = text[start:end]
                if (p.doc_id, start) in seen or len(WORD.findall(sentence)) < 4:
                    continue
                if sentence.lstrip().startswith("#") or sentence.strip() == titles.get(p.doc_id, "").strip():
                    continue  # a heading names the topic; it does not answer
                seen.add((p.doc_id, start))
                out.append(Sentence(p.doc_id, start, end, sentence, p))
        return out


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as (start, end) offsets into `text`, whitespace trimmed. Lines are
    split first: a heading, byline or date line is never glued to the sentence after it."""
    tokenizer = _punkt()
    spans = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        base = start + line.start()
        for a, b in tokenizer.span_tokenize(line.group()):
            piece = text[base + a: base + b]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if b - trail > a + lead:
                spans.append((base + a + lead, base + b - trail))
    return spans


@lru_cache(maxsize=1)
def _punkt():
    import llama_index.core
    import nltk

    # llama-index ships NLTK's English Punkt tables: nothing is downloaded.
    data = os.path.join(os.path.dirname(llama_index.core.__file__), "_static", "nltk_cache")
    if data not in nltk.data.path:
        nltk.data.path.insert(0, data)
    from nltk.tokenize import PunktTokenizer

    return PunktTokenizer("english")


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


def _terms(text: str) -> set[str]:
    return {_stem(w.lower().strip("'’-")) for w in WORD.findall(text) if w.lower() not in STOPWORDS}


def _question_terms(question: str) -> dict[str, float]:
    """Key terms of the question with weights (all 1 for now; a term's rarity in the store is the better
    weight, once a lexical index keeps those counts)."""
    weights: dict[str, float] = {}
    for word in WORD.findall(question):
        low = word.lower().strip("'’-")
        if low not in STOPWORDS and len(low) >= 2:
            weights[_stem(low)] = 1.0
    return weights


def _same_content(a: str, b: str) -> bool:
    ta, tb = _terms(a), _terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.7

"""Answer: retrieved passages -> a short answer made of report sentences, each with its citation.

The extractive answerer needs no LLM. It splits the retrieved passages into sentences (with their offsets
in the document text), scores each against the question, and answers with the best few, or abstains
when none is good enough. No library does this sentence selection with exact offsets, hence the code.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .models import Passage
from .text import STOPWORDS, WORD

# Cosine above which a word of a report stands for a question term (tuned on evals/sets/corpus_questions.jsonl).
NEAR_TERM = 0.6
RARITY_MIN, RARITY_MAX = 0.25, 2.0  # bounds of a question term's weight (see _rarity_weights)
ABSTAIN = "The reports do not say. None of the retrieved passages answers this question."

MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
          "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                "hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|half")
PATTERNS = {
    "number": re.compile(rf"\d|\b({NUMBER_WORDS})\b", re.I),
    "date": re.compile(rf"\b(1[89]\d\d|20\d\d|{MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                       r"yesterday|today|tonight)\b", re.I),
    "duration": re.compile(rf"\b(\d+|{NUMBER_WORDS}|a|an)[ -](minute|hour|day|week|month|year|decade)s?\b", re.I),
    "person": re.compile(r"\b[A-Z][a-z]+(-[A-Z]?[a-z]+)? [A-Z][a-z]+"),  # First Last
    "place": re.compile(r"\b(at|in|near|outside|from|to|on) (the )?[A-Z][a-z]"),
}
QUESTION_TYPES = [
    (re.compile(r"^\s*how (long|many (days|weeks|months|years|hours))\b", re.I), "duration"),
    (re.compile(r"\b(how many|how much|what number|what percentage|what share|how big|how large|"
                r"what (was|is) the (total|number|figure|amount|price|score))\b", re.I), "number"),
    (re.compile(r"^\s*(when|on what (date|day)|what (date|day|year|month|time)|which (date|day|year|month))\b",
                re.I), "date"),
    (re.compile(r"^\s*(who|whom|whose|which (analysts|people|officials|leader|researchers|authors))\b", re.I),
     "person"),
    (re.compile(r"^\s*(where|in which|at which|which (city|station|port|place|site|town|country))\b", re.I),
     "place"),
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
        self._word_cache: dict[str, np.ndarray] = {}  # words are few and recur: embed each once

    def answer(self, question: str, query_vector: np.ndarray, passages: list[Passage],
               texts: dict[str, str], titles: dict[str, str], dates: dict[str, str | None] | None = None
               ) -> tuple[str, list[Selected]]:
        """Returns (answer text with [n] markers, the cited sentences); no sentences means abstention."""
        candidates = self.score(question, query_vector, passages, texts, titles, dates or {})
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
        return " ".join(f"{' '.join(sel.sentence.text.split())} [{sel.marker}]" for sel in selected), selected

    def score(self, question: str, query_vector: np.ndarray, passages: list[Passage], texts: dict[str, str],
              titles: dict[str, str], dates: dict[str, str | None] | None = None) -> list[Sentence]:
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
        dates = dates or {}
        # A sentence's context is what the reader sees with it: its report's title and date, and the
        # report's retrieved passages.
        contexts: dict[str, set[str]] = {}
        read = [question]
        for p in passages:
            heading = f"{titles.get(p.doc_id, '')} {(dates.get(p.doc_id) or '').replace('-', ' ')}"
            contexts.setdefault(p.doc_id, _terms(heading)).update(_terms(p.text))
            read += [heading, p.text]
        near = self._near_terms(weights, contexts, surfaces(read))
        weights = _rarity_weights(weights, contexts, near)
        total = sum(weights.values()) or 1.0
        for s, cos in zip(sentences, cosines):
            own = _terms(s.text)
            context = own | contexts[s.doc_id]
            in_sentence = sum(w for t, w in weights.items() if t in own) / total
            s.coverage = sum(w * (1.0 if t in context else near.get((t, s.doc_id), 0.0))
                             for t, w in weights.items()) / total if weights else 1.0
            if required - context:
                s.coverage = 0.0
            typed = 1.0 if qtype is None or PATTERNS[qtype].search(s.text) else 0.0
            s.score = round(float(0.55 * cos + 0.25 * in_sentence + 0.05 * s.coverage + 0.15 * typed), 4)
        return sorted(sentences, key=lambda s: (-s.score, s.passage.rank, s.start))

    def _near_terms(self, weights: dict[str, float], contexts: dict[str, set[str]],
                    surface: dict[str, str]) -> dict[tuple[str, str], float]:
        """Question terms a report says in other words ("border" for "frontier"): for each term missing
        from a report's context, 1.0 when a context word is close to it in the embedding space. A stem
        is embedded as `surface` spells it ("study" embeds well, its stem "studi" does not)."""
        missing = {t for t in weights if not t.isdigit() and any(t not in c for c in contexts.values())}
        if not missing:
            return {}
        vocabulary = sorted(set().union(*contexts.values()) | missing)
        vectors = dict(zip(vocabulary, self._word_vectors([surface.get(t, t) for t in vocabulary])))
        near = {}
        for doc_id, context in contexts.items():
            words = [w for w in context if not w.isdigit()]
            if not words:
                continue
            matrix = np.stack([vectors[w] for w in words])
            for term in missing - context:
                if float((matrix @ vectors[term]).max()) >= NEAR_TERM:
                    near[(term, doc_id)] = 1.0
        return near

    def _word_vectors(self, words: list[str]) -> list[np.ndarray]:
        todo = list(dict.fromkeys(w for w in words if w not in self._word_cache))
        if todo:
            if len(self._word_cache) > 200_000:
                self._word_cache.clear()
            self._word_cache.update(zip(todo, self.embed(todo)))
        return [self._word_cache[w] for w in words]

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

    return PunktTokenizer("english")


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


def words(text: str) -> list[str]:
    """The words of `text` that count as terms, lower-cased, in order (stopwords left out)."""
    return [w.lower().strip("'’-") for w in WORD.findall(text) if w.lower() not in STOPWORDS]


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in words(text)}


def surfaces(texts: list[str]) -> dict[str, str]:
    """{stem: the first word of `texts` with that stem}: what is embedded for a stem. It depends on these
    texts alone, so the same question over the same passages always embeds the same words."""
    out: dict[str, str] = {}
    for text in texts:
        for word in words(text):
            out.setdefault(_stem(word), word)
    return out


def _question_terms(question: str) -> dict[str, float]:
    """Key terms of the question with weights (all 1 for now; a term's rarity in the store is the better
    weight, once a lexical index keeps those counts)."""
    weights: dict[str, float] = {}
    for word in WORD.findall(question):
        low = word.lower().strip("'’-")
        if low not in STOPWORDS and len(low) >= 2:
            weights[_stem(low)] = 1.0
    return weights


def _rarity_weights(weights: dict[str, float], contexts: dict[str, set[str]],
                    near: dict[tuple[str, str], float]) -> dict[str, float]:
    """Weigh each question term by how few of the retrieved reports contain it: the names every passage
    repeats ("Kim", "Putin") tell little; the focus of the question ("banquet", "signed") tells much."""
    n = len(contexts)
    if not n:
        return weights
    out = {}
    for term, weight in weights.items():
        df = sum(1 for doc_id, c in contexts.items() if term in c or (term, doc_id) in near)
        out[term] = weight * min(RARITY_MAX, max(RARITY_MIN, math.log((n + 1) / (df + 0.5))))
    return out


def _same_content(a: str, b: str) -> bool:
    ta, tb = _terms(a), _terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.7

"""Answer: retrieved passages -> a short answer made of report sentences, each with its citation.

The extractive answerer needs no LLM. It splits the retrieved passages into sentences (with their offsets
in the document text) and asks the reader (reader.py: a cross-encoder trained here on SQuAD and MultiHop-RAG)
how likely each one answers the question, given its report's title and the sentence before it. The
sentences are ranked by the reader's log-odds, those lacking a figure the question names last. The
confidence, the probability that the best sentence answers, is the reader's calibration (a logistic model
fit on training data only, `evals/calibrate_reader.py`); below `min_confidence` it abstains. No library does
this sentence selection with exact offsets, hence the code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..models import Disagreement, Passage
from ..text import WORD, passage_window, sentence_spans, stem, terms, words
from .reader import candidate_text
from .sentences import Sentence
from .values import find_disagreements, is_year

RARITY_MIN, RARITY_MAX = 0.25, 2.0  # bounds of a question term's weight (see _rarity_weights)
ABSTAIN = "The reports do not say. None of the retrieved passages answers this question."
READ_LIMIT = 64  # sentences the reader reads for an answer; the rest, fewest question terms, are left out
# Further sentences join the best one when their log-odds are within this of it: a second report saying
# the same thing, or the next step of the answer; further down they are usually about something else.
ANSWER_MARGIN = 1.0
DISAGREEMENT_MARGIN = 3.0  # how far below the best a sentence giving another value may score
SUMMARY_MARGIN = 2.5  # a summary takes the best sentence of each report down to this far below the best
SUMMARY_SENTENCES = 5

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
# What kind of thing a question asks for, from its wording anywhere (a keyword query has no "how many"
# at its start, but "count" or "number of" in it). The first that matches wins.
QUESTION_TYPES = [
    (re.compile(r"\bhow (long|many (days|weeks|months|years|hours))\b|\b(duration|length of)\b", re.I), "duration"),
    (re.compile(r"\b(how many|how much|what number|what percentage|what share|how big|how large|number of|"
                r"count|tally|total|figures?|amount|price|percentage|score)\b", re.I), "number"),
    (re.compile(r"\b(when|what (dates?|days?|years?|months?|time)|which (dates?|days?|years?|months?)|"
                r"on what (dates?|days?)|dates?)\b", re.I), "date"),
    (re.compile(r"\b(who|whom|whose|which (analysts|people|officials|leader|researchers|authors)|authors?|"
                r"names? of|named)\b", re.I), "person"),
    (re.compile(r"\b(where|in which|at which|which (city|station|port|place|site|town|country)|location)\b", re.I),
     "place"),
]
# A request for an overview: answered by the best sentence of each relevant report, in date order.
SUMMARY = re.compile(r"\b(summari[sz]e|summary|sum up|rundown|run-down|overview|recap|brief me|background on|"
                     r"what do (the )?(reports|articles|stories|sources) say|tell me (about|what)|"
                     r"what is known about|what happened (with|to|in|at))\b", re.I)
# Words that frame a request rather than name what it is about, and light verbs whose meaning is in the
# words around them ("set off", "get in exchange"): not terms an answer must hold.
FRAME_WORDS = frozenset("""summarize summarise summary sum rundown run-down overview recap brief background give me
tell know known explain describe details detail anything everything happened happen please reports articles stories
sources disagree differ agree question get got gets set sets make made makes take took takes go went goes come came
put""".split())  # noqa: SIM905


@dataclass
class Selected:
    sentence: Sentence
    marker: int


@dataclass
class Extracted:
    """What the extractive answerer returns: no sentences means abstention."""

    text: str
    selected: list[Selected]
    confidence: float
    disagreements: list[Disagreement] = field(default_factory=list)


@dataclass
class Logistic:
    """A fitted logistic model: features by name, standardised inside the weights."""

    features: list[str]
    weights: list[float]
    bias: float

    def logit(self, values: dict[str, float]) -> float:
        return self.bias + sum(w * values.get(f, 0.0) for f, w in zip(self.features, self.weights))


# Before a calibration is fit (a reader just trained): the reader's own probability, abstaining below a half.
UNCALIBRATED = {"features": ["top_logit"], "weights": [1.0], "bias": 0.0, "min_confidence": 0.5,
                "confident_answer": 0.5}


def question_type(question: str) -> str | None:
    """number, date, duration, person or place: what the question asks for, if its wording says."""
    return next((kind for pattern, kind in QUESTION_TYPES if pattern.search(question)), None)


def is_summary(question: str) -> bool:
    return bool(SUMMARY.search(question))


class ExtractiveAnswerer:
    """`reader` is a reader.Reader (anything with `logits(question, candidates)` and `calibration`)."""

    def __init__(self, reader, max_sentences: int, min_confidence: float | None = None,
                 confident_answer: float | None = None, read_limit: int = READ_LIMIT):
        self.reader = reader
        self.max_sentences = max_sentences
        calibration = {**UNCALIBRATED, **(getattr(reader, "calibration", None) or {})}
        self.calibration = Logistic(calibration["features"], calibration["weights"], calibration["bias"])
        self.min_confidence = calibration["min_confidence"] if min_confidence is None else min_confidence
        self.confident_answer = calibration["confident_answer"] if confident_answer is None else confident_answer
        self.read_limit = read_limit

    def answer(self, question: str, passages: list[Passage], texts: dict[str, str], titles: dict[str, str],
               dates: dict[str, str | None] | None = None, earlier: str = "") -> Extracted:
        """The answer text with [n] markers, the cited sentences, the confidence and any disagreement.
        `earlier` is what a follow-up continues (the previous question)."""
        dates = dates or {}
        ranked = self.score(question, passages, texts, titles, dates, earlier)
        if not ranked or not words(question):
            return Extracted(ABSTAIN, [], 0.0)
        confidence = self.confidence(ranked)
        if confidence < self.min_confidence:
            return Extracted(ABSTAIN, [], confidence)
        summary = is_summary(question)
        chosen = self._summary(ranked, dates) if summary else self._choose(ranked)
        differ = [] if summary else find_disagreements(question_type(question), ranked, chosen,
                                                       ranked[0].logit - DISAGREEMENT_MARGIN)
        for _, sentences in differ:
            chosen += [s for s in sentences if not any(s is c for c in chosen)]
        extracted = compose(chosen, confidence)
        marker = {id(sel.sentence): sel.marker for sel in extracted.selected}
        disagreements = [d.with_markers(marker) for d, _ in differ]
        if disagreements:
            extracted.text += " " + " ".join(d.sentence() for d in disagreements)
            extracted.disagreements = [d.model() for d in disagreements]
        return extracted

    def rerank(self, question: str, passages: list[Passage], texts: dict[str, str], titles: dict[str, str],
               top_k: int, rrf_k: float = 10.0) -> list[Passage]:
        """The `top_k` passages by reciprocal rank fusion of retrieval's order and the reader's (each passage
        by its best sentence), ranked anew. Retrieval finds the topic; the reader finds the passage that
        answers; fused, neither's mistake alone drops a passage (a passage none of whose sentences was
        read keeps its retrieval rank)."""
        if len(passages) <= 1:
            return passages[:top_k]
        best = [-math.inf] * len(passages)
        for s in self.score(question, passages, texts, titles):
            for i, p in enumerate(passages):
                if p.doc_id == s.doc_id and s.start < p.end and p.start < s.end:
                    best[i] = max(best[i], s.logit)
        by_reader = {i: rank for rank, i in enumerate(sorted(range(len(passages)), key=lambda i: (-best[i], i)))}
        # Fused rather than replaced: on SQuAD articles of the training data, the answer was within the first
        # 2,000 characters for 0.953 of the questions fused, 0.920 in the reader's order alone or in retrieval's.
        fused = {i: 1 / (rrf_k + i) + (1 / (rrf_k + by_reader[i]) if best[i] > -math.inf else 0.0)
                 for i in range(len(passages))}
        order = sorted(range(len(passages)), key=lambda i: (-fused[i], i))[:top_k]
        return [passages[i].model_copy(update={"rank": rank}) for rank, i in enumerate(order, start=1)]

    def confidence(self, ranked: list[Sentence]) -> float:
        return _sigmoid(self.calibration.logit(answer_features(ranked)))

    def _choose(self, ranked: list[Sentence]) -> list[Sentence]:
        return self._choose_from(ranked, self.max_sentences)

    @staticmethod
    def _choose_from(ranked: list[Sentence], max_sentences: int) -> list[Sentence]:
        chosen = [ranked[0]]
        for s in ranked[1:]:
            if len(chosen) >= max_sentences or s.logit < ranked[0].logit - ANSWER_MARGIN or s.unmet > ranked[0].unmet:
                break
            if not any(_same_content(s.text, c.text) for c in chosen):
                chosen.append(s)  # a wire copy or an overlap is left out: one quote is enough
        return chosen

    @staticmethod
    def _summary(ranked: list[Sentence], dates: dict[str, str | None]) -> list[Sentence]:
        """The best sentence of each report near the top, oldest report first."""
        best: dict[str, Sentence] = {}
        for s in ranked:
            if s.logit < ranked[0].logit - SUMMARY_MARGIN or len(best) >= SUMMARY_SENTENCES:
                break
            if s.doc_id not in best and not any(_same_content(s.text, b.text) for b in best.values()):
                best[s.doc_id] = s
        return sorted(best.values(), key=lambda s: (dates.get(s.doc_id) or "9999", s.doc_id, s.start))

    def score(self, question: str, passages: list[Passage], texts: dict[str, str], titles: dict[str, str],
              dates: dict[str, str | None] | None = None, earlier: str = "", limit: int | None = -1
              ) -> list[Sentence]:
        """The sentences of the passages the reader read, best first, with their features and log-odds.
        `limit`: the most sentences read (-1: `read_limit`; None: all), those holding the fewest question
        terms left out."""
        sentences = self._sentences(passages, texts, titles)
        if not sentences:
            return []
        weights = {**{t: 0.5 for t in _question_terms(earlier)}, **_question_terms(question)}
        required = {t for t in weights if t.isdigit()}  # a year or figure the question names
        # A figure the question names is a constraint, not a hint: "berth 7" is not answered by "berth 12".
        # An identifier must be in the sentence; a year in its report (often only in the report's date).
        years = {t for t in required if is_year(t)}
        qtype = question_type(question)
        dates = dates or {}
        # A sentence's context: its report's title and date, and the report's retrieved passages.
        contexts: dict[str, set[str]] = {}
        for p in passages:
            heading = f"{titles.get(p.doc_id, '')} {(dates.get(p.doc_id) or '').replace('-', ' ')}"
            contexts.setdefault(p.doc_id, terms(heading)).update(terms(p.text))
        weights = _rarity_weights(weights, contexts)
        total = sum(weights.values()) or 1.0
        for s in sentences:
            own = terms(s.text)
            context = own | contexts[s.doc_id]
            s.coverage = sum(w for t, w in weights.items() if t in context) / total if weights else 1.0
            typed = qtype is None or bool(PATTERNS[qtype].search(s.text))
            s.features = {
                "terms": sum(w for t, w in weights.items() if t in own) / total if weights else 1.0,
                "coverage": s.coverage,
                "type_miss": float(not typed),
                "figure_miss": float(bool(required - own)),  # the "7" of "berth 7", the "2019" asked about
                # The weightiest question term the sentence's report does not hold.
                "focus_miss": max((w for t, w in weights.items() if t not in context), default=0.0) / RARITY_MAX,
                "passage_rank": 1.0 / s.passage.rank,
            }
            s.unmet = bool((required - years) - own or years - context)
        limit = self.read_limit if limit == -1 else limit
        if limit is not None and len(sentences) > limit:
            # The reader costs a few milliseconds a sentence: those sharing least with the question are not read.
            sentences = sorted(sentences, key=lambda s: -(s.features["terms"] + s.coverage / 2
                                                         + s.features["passage_rank"] / 4))[:limit]
        # A follow-up ("And how long did it take?") is read with what it follows.
        asked = f"{earlier} {question}".strip() if earlier else question
        logits = self.reader.logits(asked, [candidate_text(s.text, titles.get(s.doc_id, ""),
                                                           previous_sentence(texts[s.doc_id], s.start))
                                            for s in sentences])
        for s, logit in zip(sentences, logits):
            s.logit = float(logit)
            s.score = round(_sigmoid(s.logit), 4)
            s.features["reader"] = s.logit
        return sorted(sentences, key=rank_key)

    def _sentences(self, passages: list[Passage], texts: dict[str, str], titles: dict[str, str]) -> list[Sentence]:
        seen: set[tuple[str, int]] = set()
        out = []
        for p in passages:
            text = texts.get(p.doc_id)
            if text is None:
                continue
            # Chunks are cut by word pieces: widened to whole sentences, none is quoted half.
            for start, end in sentence_spans(text, *passage_window(text, p.start, p.end)):
                sentence = text[start:end]
                if (p.doc_id, start) in seen or len(WORD.findall(sentence)) < 4:
                    continue
                if sentence.lstrip().startswith("#") or sentence.split() == titles.get(p.doc_id, "").split():
                    continue  # a heading names the topic; it does not answer
                seen.add((p.doc_id, start))
                out.append(Sentence(p.doc_id, start, end, sentence, p))
        return out


def compose(chosen: list[Sentence], confidence: float) -> Extracted:
    """The answer made of report sentences, verbatim, in the order given, each with its [n]."""
    selected = [Selected(s, i) for i, s in enumerate(chosen, start=1)]
    text = " ".join(f"{' '.join(sel.sentence.text.split())} [{sel.marker}]" for sel in selected)
    return Extracted(text, selected, confidence)


def _question_terms(question: str) -> dict[str, float]:
    """Key terms of the question, each with weight 1 (rarity among the passages weighs them later); the
    words that frame a request ("summarize", "tell me") are left out."""
    return {stem(w): 1.0 for w in words(question) if (len(w) >= 2 or w.isdigit()) and w not in FRAME_WORDS}


def _rarity_weights(weights: dict[str, float], contexts: dict[str, set[str]]) -> dict[str, float]:
    """Weigh each question term by how few of the retrieved reports contain it (in its words or in
    others): the names every passage repeats ("Kim", "Putin") tell little; the focus of the question
    ("banquet", "signed") tells much."""
    n = len(contexts)
    if not n:
        return weights
    out = {}
    for term, weight in weights.items():
        df = sum(1 for c in contexts.values() if term in c)
        out[term] = weight * min(RARITY_MAX, max(RARITY_MIN, math.log((n + 1) / (df + 0.5))))
    return out


def rank_key(s: Sentence) -> tuple:
    """Best first: sentences holding the figures the question names, then by the ranker's log-odds."""
    return (s.unmet, -s.logit, s.passage.rank if s.passage else 0, s.start)


def answer_features(ranked: list[Sentence]) -> dict[str, float]:
    """What the calibration may use: the reader's log-odds for the best sentence, how far ahead of the next
    report's best it is, and the best sentence's cheap features (evals/calibrate_reader.py picks which pay)."""
    top = ranked[0]
    other = next((s.logit for s in ranked[1:] if s.doc_id != top.doc_id), top.logit - 10.0)
    return {"top_logit": top.logit, "lead": min(10.0, top.logit - other),
            **{name: top.features.get(name, 0.0) for name in ("focus_miss", "type_miss", "figure_miss", "terms",
                                                              "coverage")}}


def previous_sentence(text: str, start: int) -> str:
    """The sentence before the one at `start` (its end, at least): what "he" or "the study" refers to."""
    spans = sentence_spans(text, max(0, start - 300), start)
    return text[spans[-1][0]:spans[-1][1]] if spans else ""


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def _same_content(a: str, b: str) -> bool:
    ta, tb = terms(a), terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.7


FOLLOW_UP = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|then)\b|^\s*(and|but|"
                       r"what about|how about|also)\b", re.I)


def standalone_question(question: str, history: list[dict]) -> str:
    """A follow-up ("And when did it start?") is read together with the previous question, so that
    retrieval knows what "it" is. Without an LLM to rewrite it, the previous question is prepended."""
    previous = [m["content"] for m in history if m.get("role") == "user" and str(m.get("content", "")).strip()]
    if previous and (FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return f"{previous[-1]} {question}"
    return question

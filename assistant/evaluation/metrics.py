"""Evaluation metrics: pure functions over one question's result, each defined in evals/README.md and
tested on hand-made cases in tests/test_metrics.py."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

KS = (1, 3, 5, 10)
BUDGETS = (2000, 4000)
# A retrieved passage counts for an evidence item when it holds the item's (normalised) text, or when
# this share of the item's tokens fall inside the passage.
EVIDENCE_OVERLAP = 0.6
# A reference of at most this many words is a short answer that `contains_answer` can look for; longer ones
# (DragonBall's summaries, over 10 words) are judged by the cited evidence instead. Our sets' shortest
# reference per question has at most 6 words, SQuAD's and RealTimeQA's at most 5.
SHORT_REFERENCE = 8
# Equal-width bins of confidence for the reliability table and the calibration error.
CONFIDENCE_BINS = 10


# --- answers (SQuAD normalisation) -----------------------------------------------------------------

def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) | {"‘", "’", "“", "”"})
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(r) for r in references if r))


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """Best SQuAD token F1 of the prediction against any reference."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for ref in references:
        gold = normalize_answer(ref).split()
        if not pred or not gold:
            continue
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(prediction: str, references: Sequence[str]) -> float:
    """1 when a normalised reference appears in the normalised prediction (for short answers)."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(normalize_answer(r) and f" {normalize_answer(r)} " in pred for r in references))


# --- retrieval ---------------------------------------------------------------------------------------

def passage_supports(passage_doc: str, passage_text: str, evidence_doc: str | None, evidence_text: str) -> bool:
    """Does a retrieved passage count for an evidence item? It must come from the evidence document (when
    the item names one) and hold its normalised text, or most of its tokens. An item with no text counts
    for any passage of its document."""
    if evidence_doc and passage_doc != evidence_doc:
        return False
    wanted = normalize_answer(evidence_text)
    if not wanted:
        return bool(evidence_doc)
    have = normalize_answer(passage_text)
    return wanted in have or _word_share(wanted.split(), have.split()) >= EVIDENCE_OVERLAP


def _word_share(part: Sequence[str], whole: Sequence[str]) -> float:
    """Share of `part`'s words (with repeats) that `whole` holds."""
    present = Counter(whole)
    return sum(min(n, present[t]) for t, n in Counter(part).items()) / len(part)


def evidence_matches(passages: Sequence[dict], evidence: Sequence[dict]) -> list[list[bool]]:
    """matches[i][j]: retrieved passage i (in rank order) counts for evidence item j."""
    return [[passage_supports(p["doc_id"], p["text"], e.get("doc_id"), e.get("text") or "") for e in evidence]
            for p in passages]


def retrieval_metrics(passages: Sequence[dict], evidence: Sequence[dict]) -> dict[str, float]:
    """hit@k and recall@k (k in KS), MRR@10 and nDCG@10 over the evidence items, and evidence recall
    within a budget of retrieved characters (passages in rank order, the last one cut at the budget)."""
    if not evidence:
        return {}
    matches = evidence_matches(passages, evidence)
    out: dict[str, float] = {}
    for k in KS:
        covered = [any(row[j] for row in matches[:k]) for j in range(len(evidence))]
        out[f"hit@{k}"] = float(any(covered))
        out[f"recall@{k}"] = sum(covered) / len(evidence)
    first = next((i for i, row in enumerate(matches[:10]) if any(row)), None)
    out["mrr@10"] = 0.0 if first is None else 1.0 / (first + 1)
    gains = [1.0 if any(row) else 0.0 for row in matches[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(10, len(evidence))))
    out["ndcg@10"] = dcg / ideal if ideal else 0.0
    for budget in BUDGETS:
        out[f"budget_recall@{budget}"] = budget_recall(passages, evidence, budget)
    return out


def budget_text(passages: Sequence[dict], budget: int) -> list[dict]:
    """The passages in rank order up to `budget` characters, the last one cut at the budget."""
    cut, used = [], 0
    for p in passages:
        if used >= budget:
            break
        text = p["text"][: budget - used]
        cut.append({**p, "text": text})
        used += len(text)
    return cut


def answer_recall(passages: Sequence[dict], references: Sequence[str], budget: int) -> float:
    """1 when a (normalised) reference answer appears in the first `budget` characters of retrieved text:
    whether a reader, or a model, given that much could answer at all."""
    return float(any(contains_answer(p["text"], references) for p in budget_text(passages, budget)))


def budget_recall(passages: Sequence[dict], evidence: Sequence[dict], budget: int) -> float:
    """Share of evidence items found in the first `budget` characters of retrieved text."""
    matches = evidence_matches(budget_text(passages, budget), evidence)
    return sum(any(row[j] for row in matches) for j in range(len(evidence))) / len(evidence)


# --- citations -----------------------------------------------------------------------------------------

def citation_metrics(answer: dict, texts: dict[str, str], evidence: Sequence[dict],
                     references: Sequence[str]) -> dict[str, float]:
    """For an answer that was not an abstention: has a citation; some quote overlaps an evidence text (when
    the question has evidence texts); share of citations whose quote is the document text at its offsets; share
    whose document is an evidence document; share whose quote holds a reference answer (a lexical proxy for
    support: see evals/README.md)."""
    citations = answer.get("citations") or []
    out = {"has_citation": float(bool(citations))}
    evidence_texts = [e["text"] for e in evidence if e.get("text")]
    if evidence_texts:
        out["cites_evidence"] = float(any(quote_overlaps(c["quote"], t) for c in citations for t in evidence_texts))
    if not citations:
        return out
    evidence_docs = {e.get("doc_id") for e in evidence if e.get("doc_id")}
    out["quote_exact"] = sum(texts.get(c["doc_id"], "")[c["start"]:c["end"]] == c["quote"]
                             for c in citations) / len(citations)
    if evidence_docs:
        out["cited_evidence_doc"] = sum(c["doc_id"] in evidence_docs for c in citations) / len(citations)
    if any(references):
        out["quote_holds_answer"] = sum(contains_answer(c["quote"], references) for c in citations) / len(citations)
    return out


def quote_overlaps(quote: str, evidence_text: str) -> bool:
    """Does a cited quote overlap an evidence text? After normalisation, one is inside the other or the longer
    holds at least EVIDENCE_OVERLAP of the shorter one's words (being inside is the case of all of them). The
    document is not checked: a wire copy of the evidence supports the answer as well."""
    a, b = normalize_answer(quote).split(), normalize_answer(evidence_text).split()
    if not a or not b:
        return False
    shorter, longer = sorted((a, b), key=len)
    return _word_share(shorter, longer) >= EVIDENCE_OVERLAP


def verification_metrics(answer: dict) -> dict[str, float]:
    """For an answer whose sentences were checked (a generative answerer; extractive sentences are quotes):
    the share of the sentences it wrote that a passage supports, and of its citations the verifier moved."""
    sentences = answer.get("sentences") or []
    out = {}
    if sentences:
        out["supported_sentences"] = sum(s["supported"] for s in sentences) / len(sentences)
        out["flagged_sentences"] = sum(bool(s.get("flags")) for s in sentences) / len(sentences)
    citations = answer.get("citations") or []
    if citations:
        out["repaired_citations"] = sum(bool(c.get("repaired")) for c in citations) / len(citations)
    return out


# --- confidence ------------------------------------------------------------------------------------------

def is_right(answerable: bool, abstained: bool, answer: str, references: Sequence[str],
             cites_evidence: float | None) -> bool | None:
    """Was the outcome right? An abstention is right on an unanswerable question only; an answer is right on an
    answerable one when it contains a reference (`contains_answer`) or, when no reference is short enough to be
    looked for, when a quote overlaps an evidence text (`cites_evidence`). None when it cannot be judged."""
    if not answerable:
        return abstained
    if abstained:
        return False
    if contains_answer(answer, references):
        return True
    if any(len(normalize_answer(r).split()) <= SHORT_REFERENCE for r in references):
        return False
    return None if cites_evidence is None else bool(cites_evidence)


def best_answer_right(answerable: bool, abstained: bool, right: bool | None) -> bool | None:
    """What `confidence` estimates: was the best answer right, the one given or, for an abstention, the one held
    back? Held back on an unanswerable question it was wrong (no answer is right); held back on an answerable
    one it is unknown (the run does not record it), so that question is left out of calibration."""
    if not abstained:
        return right
    return False if not answerable else None


def auroc(confidences: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the probability that a right answer has a higher confidence than a wrong one,
    ties counting a half (Mann-Whitney U from mid-ranks). None without both right and wrong answers."""
    scores, right = np.asarray(confidences, dtype=float), np.asarray(labels, dtype=bool)
    n_right, n_wrong = int(right.sum()), int((~right).sum())
    if not n_right or not n_wrong:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mid_ranks = np.cumsum(counts) - (counts - 1) / 2  # tied scores share the mean of their ranks (1-based)
    rank_sum = mid_ranks[inverse][right].sum()
    return float((rank_sum - n_right * (n_right + 1) / 2) / (n_right * n_wrong))


def reliability(confidences: Sequence[float], labels: Sequence[bool], bins: int = CONFIDENCE_BINS) -> list[dict]:
    """Per equal-width bin of confidence ([0, 0.1), ..., [0.9, 1.0]): its bounds, the number of questions, their
    mean confidence and the share of them right (None for an empty bin)."""
    table = [{"low": i / bins, "high": (i + 1) / bins, "count": 0, "confidence": None, "accuracy": None}
             for i in range(bins)]
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, label in zip(confidences, labels):
        members[min(int(confidence * bins), bins - 1)].append((confidence, bool(label)))
    for row, group in zip(table, members):
        if group:
            row["count"] = len(group)
            row["confidence"] = sum(c for c, _ in group) / len(group)
            row["accuracy"] = sum(label for _, label in group) / len(group)
    return table


def calibration_error(table: Sequence[dict]) -> float | None:
    """Expected calibration error of a reliability table: the gap between accuracy and mean confidence in each
    bin, weighted by the bin's share of the questions. None for no questions."""
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in table if row["count"])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

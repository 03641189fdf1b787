"""Evaluation metrics: pure functions over one question's result, each defined in evals/README.md and
tested on hand-made cases in tests/test_metrics.py."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

KS = (1, 3, 5, 10)
BUDGETS = (2000, 4000)
# A retrieved passage counts for an evidence item when it holds the item's (normalised) text, or when
# this share of the item's tokens fall inside the passage.
EVIDENCE_OVERLAP = 0.6


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
    if wanted in have:
        return True
    tokens = wanted.split()
    present = Counter(have.split())
    found = sum(min(n, present[t]) for t, n in Counter(tokens).items())
    return found / len(tokens) >= EVIDENCE_OVERLAP


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
    """For an answer that was not an abstention: has a citation; share of citations whose quote is the
    document text at its offsets; share whose document is an evidence document; share whose quote holds
    a reference answer (a lexical proxy for support: see evals/README.md)."""
    citations = answer.get("citations") or []
    out = {"has_citation": float(bool(citations))}
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


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

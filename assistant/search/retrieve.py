"""Retrieve: a question -> the passages (chunks) most likely to answer it.

Two retrievers look at once: dense (llama-index's vector retriever over Chroma: meaning) and keyword
(BM25 over SQLite FTS5 in the catalog: names and rare words that a small embedding model blurs). Their
rankings are fused by weighted reciprocal rank fusion, wire copies are collapsed into one passage that
names every outlet that ran it, and chunks of one report give way to other reports as they pile up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date

from llama_index.core import VectorStoreIndex
from llama_index.core.schema import QueryBundle
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

from ..models import Copy, Filters, Passage
from ..text import STOPWORDS, WORD

# Words shared by a chunk and a kept passage, as a share of the smaller one's three-word shingles,
# above which the chunk is a copy of that passage (wire copies rewrite a headline and a few words).
DUPLICATE_OVERLAP = 0.6
NAMED_SHARE = 0.8  # share of a title's words a question must hold to name that report
RECENT = re.compile(r"\b(latest|most recent|newest|recently|last (week|month)|this (week|month))\b", re.I)


class Retriever:
    def __init__(self, store, vector_store, embed_model, settings):
        self.store = store
        self.settings = settings
        self.index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
        self._titles: tuple[str, dict[str, set[str]]] = ("", {})

    def retrieve(self, question: str, query_embedding: list[float], top_k: int,
                 filters: Filters | None = None) -> list[Passage]:
        s = self.settings
        allowed = self.store.doc_ids_matching(filters) if filters and not filters.empty else None
        if allowed is not None and not allowed:
            return []
        rankings, weights = [], []
        if s.retrieval_mode in ("hybrid", "dense"):
            rankings.append(self.dense(question, query_embedding, s.dense_k, allowed))
            weights.append(s.dense_weight)
        if s.retrieval_mode in ("hybrid", "bm25"):
            rankings.append(self.keyword(question, s.bm25_k, allowed))
            weights.append(s.bm25_weight)
        fused = fuse(rankings, weights, s.rrf_k)
        if s.title_boost != 1.0:
            fused = boost_named(fused, self.named_documents(question), s.title_boost)
        if RECENT.search(question):
            fused = prefer_recent(fused)
        if s.collapse_duplicates:
            fused = collapse_duplicates(fused)
        if s.document_decay < 1.0:
            fused = diversify(fused, s.document_decay)
        return [p.model_copy(update={"rank": rank}) for rank, p in enumerate(fused[:top_k], start=1)]

    def named_documents(self, question: str) -> set[str]:
        """The reports a question names by their title ("... in Green Fields Agriculture Ltd.'s report"):
        at least two of the title's words, and nearly all of them, are in the question."""
        asked = set(query_terms(question))
        named = set()
        for doc_id, terms in self._title_terms().items():
            shared = len(terms & asked)
            if shared >= 2 and shared >= NAMED_SHARE * len(terms):
                named.add(doc_id)
        return named

    def _title_terms(self) -> dict[str, set[str]]:
        version = self.store.version()
        if self._titles[0] != version:
            self._titles = (version, {d: set(query_terms(t)) for d, t in self.store.titles().items()})
        return self._titles[1]

    def dense(self, question: str, query_embedding: list[float], k: int,
              allowed: list[str] | None = None) -> list[Passage]:
        where = None
        if allowed is not None:
            where = MetadataFilters(filters=[MetadataFilter(key="doc_id", value=allowed, operator=FilterOperator.IN)])
        retriever = self.index.as_retriever(similarity_top_k=k, filters=where)
        # A chunk deleted between Chroma's nearest-neighbour search and its metadata fetch comes back
        # without metadata: it belonged to a version being replaced, so it is skipped like one.
        hits = [hit for hit in retriever.retrieve(QueryBundle(question, embedding=query_embedding))
                if "doc_id" in hit.node.metadata]
        # Chunks of a version the catalog does not name (yet, or any more) belong to a write in flight.
        versions = self.store.versions(hit.node.metadata["doc_id"] for hit in hits)
        passages = []
        for hit in hits:
            meta = hit.node.metadata
            if versions.get(meta["doc_id"]) != meta.get("version", ""):
                continue
            # The Chroma integration reports exp(-distance); the collection uses cosine distance
            # (1 - cos), so the cosine similarity is 1 + ln(score).
            cosine = 1.0 + math.log(hit.score) if hit.score and hit.score > 0 else 0.0
            passages.append(Passage(rank=len(passages) + 1, doc_id=meta["doc_id"], chunk_id=hit.node.node_id,
                                    title=meta.get("title") or "", source=meta.get("source") or None,
                                    date=meta.get("date") or None, start=int(meta["start"]), end=int(meta["end"]),
                                    score=round(cosine, 4), text=hit.node.get_content()))
        return passages

    def keyword(self, question: str, k: int, allowed: list[str] | None = None) -> list[Passage]:
        rows = self.store.keyword_search(query_terms(question), k, allowed)
        infos = self.store.headers({r["doc_id"] for r in rows})
        return [Passage(rank=rank, doc_id=r["doc_id"], chunk_id=r["chunk_id"], start=r["start"], end=r["end"],
                        score=round(r["score"], 4), text=r["text"], **infos[r["doc_id"]])
                for rank, r in enumerate(rows, start=1)]


def query_terms(question: str) -> list[str]:
    """The words of a question worth matching: no stopwords, no one-letter words, each once."""
    words = [w.lower().strip("'’-") for w in WORD.findall(question)]
    return list(dict.fromkeys(w for w in words if len(w) >= 2 and w not in STOPWORDS))


def fuse(rankings: Sequence[list[Passage]], weights: Sequence[float], k: float) -> list[Passage]:
    """Weighted reciprocal rank fusion: score = sum of weight / (k + rank) over the rankings.

    Written here because llama-index's QueryFusionRetriever fuses without weights, with k fixed at 60,
    and resolves a default LLM when built; the dense cosine is kept as the passage's score."""
    scores: dict[str, float] = {}
    best: dict[str, Passage] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, passage in enumerate(ranking, start=1):
            scores[passage.chunk_id] = scores.get(passage.chunk_id, 0.0) + weight / (k + rank)
            if passage.chunk_id not in best or ranking is rankings[0]:
                best[passage.chunk_id] = passage
    order = sorted(scores, key=lambda cid: -scores[cid])
    return [best[cid].model_copy(update={"fused": round(scores[cid], 6)}) for cid in order]


def boost_named(passages: list[Passage], named: set[str], boost: float) -> list[Passage]:
    """Chunks of the reports the question names count `boost` times more."""
    if not named:
        return passages
    boosted = [p.model_copy(update={"fused": p.fused * boost}) if p.doc_id in named else p for p in passages]
    return sorted(boosted, key=lambda p: -p.fused)


def collapse_duplicates(passages: list[Passage]) -> list[Passage]:
    """Keep the best-ranked of each set of near-identical chunks from different reports (wire copies);
    the others become its `copies`, so the outlets that ran it are still named."""
    kept: list[tuple[Passage, set]] = []
    for passage in passages:
        shingles = _shingles(passage.text)
        for i, (other, other_shingles) in enumerate(kept):
            if other.doc_id != passage.doc_id and _overlap(shingles, other_shingles) >= DUPLICATE_OVERLAP:
                copy = Copy(**passage.model_dump(include=set(Copy.model_fields)))
                kept[i] = (other.model_copy(update={"copies": [*other.copies, copy]}), other_shingles)
                break
        else:
            kept.append((passage, shingles))
    return [p for p, _ in kept]


def diversify(passages: list[Passage], decay: float) -> list[Passage]:
    """Each further chunk of a report already in the list counts `decay` times less, so that a question
    spanning reports sees more than one report within the first few passages."""
    seen: dict[str, int] = {}
    out = []
    for p in passages:
        out.append((p.fused * decay ** seen.get(p.doc_id, 0), p))
        seen[p.doc_id] = seen.get(p.doc_id, 0) + 1
    return [p for _, p in sorted(out, key=lambda x: -x[0])]


def prefer_recent(passages: list[Passage]) -> list[Passage]:
    """"Latest", "most recent": among passages of similar relevance, the newer report first (each day
    older costs a little; undated reports are left where they are)."""
    dated = [date.fromisoformat(p.date[:10]) for p in passages if p.date]
    if not dated:
        return passages
    newest = max(dated)

    def score(p: Passage) -> float:
        if not p.date:
            return p.fused
        age_days = (newest - date.fromisoformat(p.date[:10])).days
        return p.fused / (1.0 + age_days / 365)

    return sorted(passages, key=lambda p: -score(p))


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = [w.lower() for w in WORD.findall(text)]
    return {tuple(words[i:i + 3]) for i in range(max(0, len(words) - 2))}


def _overlap(a: set, b: set) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0

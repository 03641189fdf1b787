"""Retrieve: a question -> the passages (chunks) most likely to answer it, through llama-index's vector
retriever over the Chroma store."""

from __future__ import annotations

import math

from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore, QueryBundle

from .models import Passage


class Retriever:
    def __init__(self, vector_store, embed_model):
        self.index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)

    def retrieve(self, question: str, query_embedding: list[float], top_k: int) -> list[Passage]:
        retriever = self.index.as_retriever(similarity_top_k=top_k)
        hits = retriever.retrieve(QueryBundle(question, embedding=query_embedding))
        return [_passage(rank, hit) for rank, hit in enumerate(hits, start=1)]


def _passage(rank: int, hit: NodeWithScore) -> Passage:
    meta = hit.node.metadata
    # The Chroma integration reports exp(-distance); the collection uses cosine distance (1 - cos),
    # so the cosine similarity is 1 + ln(score).
    cosine = 1.0 + math.log(hit.score) if hit.score and hit.score > 0 else 0.0
    return Passage(rank=rank, doc_id=meta["doc_id"], chunk_id=hit.node.node_id, title=meta.get("title") or "",
                   start=int(meta["start"]), end=int(meta["end"]), score=round(cosine, 4),
                   text=hit.node.get_content())

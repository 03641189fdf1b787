"""Search the library: the passages a query retrieves (retrieve.py), with the texts and particulars of their
reports, all read in one snapshot of the store, so that a question sees each report whole while writers
change it (index/store.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..models import DocumentInfo, Filters, Passage


@dataclass
class Found:
    """What a search found. `empty`: the library holds no reports at all."""

    passages: list[Passage] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    infos: dict[str, DocumentInfo] = field(default_factory=dict)
    empty: bool = False

    @property
    def titles(self) -> dict[str, str]:
        return {d: i.title for d, i in self.infos.items()}

    @property
    def dates(self) -> dict[str, str | None]:
        return {d: i.date for d, i in self.infos.items()}


class Searcher:
    """`embed_query(text)` gives the unit vector retrieval compares passages with."""

    def __init__(self, store, retriever, embed_query: Callable[[str], np.ndarray]):
        self.store = store
        self.retriever = retriever
        self.embed_query = embed_query

    def search(self, query: str, top_k: int, filters: Filters | None = None, copies: bool = False) -> Found:
        """The `top_k` passages for `query`. `copies`: the texts of the passages' wire copies too."""
        vector = self.embed_query(query)
        with self.store.snapshot():
            if self.store.empty():
                return Found(empty=True)
            passages = self.retriever.retrieve(query, vector.tolist(), top_k, filters)
            ids = {p.doc_id for p in passages} | {c.doc_id for p in passages for c in p.copies} if copies \
                else (p.doc_id for p in passages)
            texts = self.store.texts(ids)
            infos = {doc_id: self.store.document(doc_id) for doc_id in texts}
        return Found(passages, texts, infos)

    def in_scope(self, filters: Filters | None):
        """The reports that `filters` allow (all when there are none), in one snapshot."""
        with self.store.snapshot():
            allowed = self.store.doc_ids_matching(filters) if filters and not filters.empty else None
            return [d for d in self.store.documents() if allowed is None or d.doc_id in allowed]

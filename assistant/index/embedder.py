"""Unit vectors for texts: the embedding model behind one encoding queue for every thread (batching.py),
with the store's embedding cache in front (embed_cache.py), so that nothing is encoded twice."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np


class Embedder:
    """`model` is the llama-index HuggingFaceEmbedding the Assistant loaded; `model_path` names it for the
    cache; `folder` is the store folder that holds the cache."""

    def __init__(self, model, model_path: str, batch_size: int, folder: Path):
        self.model = model
        self.model_path = model_path
        self.batch_size = batch_size
        self.folder = folder
        self.encoded = 0  # texts the model has encoded (cache misses), for reports and benchmarks

    @cached_property
    def encoder(self):
        """Encodes for every thread (questions in parallel, an ingest beside them): batching.py."""
        import torch

        from .batching import EncoderQueue

        model = self.model
        return EncoderQueue(lambda texts, kind: model._embed(texts, prompt_name=kind), self.batch_size,
                            set_threads=torch.set_num_threads, threads=torch.get_num_threads())

    @cached_property
    def cache(self):
        """The store's embedding cache, or None when the store folder cannot hold one (read-only)."""
        import sqlite3

        from .embed_cache import EmbeddingCache, model_id

        try:
            return EmbeddingCache(self.folder, model_id(self.model_path))
        except (sqlite3.OperationalError, OSError):
            return None

    def query(self, question: str) -> np.ndarray:
        """The unit vector that retrieval compares passages with."""
        return self.encoder.encode([question], kind="query")[0]

    def embed(self, texts: list[str], urgent: bool = True) -> np.ndarray:
        """Unit vectors for `texts`: from the embedding cache when they were computed before; the others
        encoded longest first (so that each batch pads little), once each, and cached. An ingest is not
        urgent: questions asked meanwhile are encoded first."""
        cache = self.cache
        found = cache.get(texts) if cache is not None else [None] * len(texts)
        todo = list(dict.fromkeys(t for t, v in zip(texts, found) if v is None))
        todo.sort(key=len, reverse=True)
        fresh: dict[str, np.ndarray] = {}
        if todo:
            vectors = self.encoder.encode(todo, urgent=urgent)
            fresh = dict(zip(todo, vectors))
            if cache is not None:
                cache.put(todo, vectors)
        self.encoded += len(todo)
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        return np.stack([vector if vector is not None else fresh[text] for text, vector in zip(texts, found)])

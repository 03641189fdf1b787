"""Embedding cache: vectors already computed, keyed by (model, text hash), so nothing is encoded twice.

Ingest looks up every chunk text here first, so a changed report re-embeds only its changed chunks, and a
report removed and added again costs no encoding. Asking looks up the sentences and words it scores, so a
follow-up over the same passages encodes nothing. It lives in its own SQLite file in the store folder:
deleting it loses only time, never data. No library keeps a persistent text -> vector map for a
sentence-transformers model (llama-index's IngestionCache keys whole transformation runs), hence the code.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FILENAME = "embeddings.sqlite"
SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL, " \
         "PRIMARY KEY (model, key)) WITHOUT ROWID"
BATCH = 500  # keys per SELECT: below SQLite's limit on bound parameters


def model_id(model_path: str) -> str:
    """A name for the model that changes when its files do: the folder name plus a hash of its config
    files and the sizes of its weights (reading gigabytes of weights on every start would cost more than
    the cache saves)."""
    folder = Path(model_path)
    digest = hashlib.blake2b(digest_size=8)
    for item in sorted(folder.iterdir()) if folder.is_dir() else []:
        if item.is_file():
            digest.update(item.name.encode())
            digest.update(item.read_bytes() if item.suffix == ".json" else str(item.stat().st_size).encode())
    return f"{folder.name}:{digest.hexdigest()}"


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    def __init__(self, folder: Path, model: str):
        self.model = model
        folder.mkdir(parents=True, exist_ok=True)
        # A process serving the chat writes here while an ingest in another process may too: wait a
        # little for the other's transaction, and never fail a question over a cache write.
        self.db = sqlite3.connect(folder / FILENAME, timeout=10, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.lock = threading.Lock()  # one connection shared by the chat's worker threads

    def get(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text, or None."""
        keys = [text_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self.lock:
            for i in range(0, len(keys), BATCH):
                part = keys[i:i + BATCH]
                rows = self.db.execute(f"SELECT key, vector FROM vectors WHERE model = ? AND key IN "
                                       f"({','.join('?' * len(part))})", [self.model, *part]).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return [found.get(k) for k in keys]

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(self.model, text_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors)]
        try:
            with self.lock, self.db:
                self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
        except sqlite3.OperationalError:
            pass  # locked by another process for too long, or a read-only store: the vectors are still used

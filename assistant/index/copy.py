"""`assistant store copy SRC DEST`: move a library between a local store (SQLite and embedded Chroma in one
folder) and a shared one (PostgreSQL and a Chroma server), either way. The vectors are copied, not computed
again, and the counts are checked at the end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .catalog import StoreMismatch
from .store import WRITE_SLICE, Store, keyword_row, open_catalog

PAGE = 2000  # chunks read from the source at once


@dataclass
class Place:
    """Where a library lives: a folder (its own catalog and, without chroma_url, its vectors), or a
    PostgreSQL catalog with its Chroma server."""

    folder: Path
    catalog_url: str | None = None
    chroma_url: str | None = None
    collection: str = "chunks"

    def __str__(self) -> str:
        from .pg_catalog import redact

        return " + ".join(x for x in (redact(self.catalog_url) if self.catalog_url else str(self.folder),
                                      self.chroma_url) if x)

    def open(self, build: dict[str, str]) -> Store:
        return Store(self.folder, build, chroma_url=self.chroma_url, collection=self.collection,
                     catalog_url=self.catalog_url)


def copy_library(src: Place, dest: Place, wait_seconds: float = 60.0) -> dict[str, int]:
    """Copy every report of `src` (catalog rows, file fingerprints, keyword index, chunks with their vectors)
    into `dest`, which must hold no reports. Both writer locks are held throughout. Returns the counts, checked
    in `dest`; raises ValueError when the copy does not add up."""
    probe = open_catalog(src.folder, src.catalog_url)
    try:
        build = probe.build()
    finally:
        probe.close()
    if not build:
        raise ValueError(f"{src}: not a store (no catalog with a build record)")
    source = src.open(build)
    try:
        target = dest.open(build)
    except StoreMismatch as exc:
        source.close()
        raise ValueError(f"{dest}: {exc}") from None
    try:
        with source.catalog.writer(wait_seconds), target.catalog.writer(wait_seconds):
            if not target.empty():
                raise ValueError(f"{dest} already holds {target.count()} reports: copy into an empty library")
            return _copy(source, target, str(dest))
    finally:
        source.close()
        target.close()


def _copy(source: Store, target: Store, where: str) -> dict[str, int]:
    rows = source.catalog.rows()
    wanted = {r["doc_id"]: r["version"] for r in rows}
    words, ids = [], []
    total = source.collection.count()
    for offset in range(0, total, PAGE):
        got = source.collection.get(include=["embeddings", "documents", "metadatas"], limit=PAGE, offset=offset)
        keep = [i for i, meta in enumerate(got["metadatas"])
                if wanted.get(meta["document_id"]) == meta.get("version", "")]
        for start in range(0, len(keep), WRITE_SLICE):
            part = keep[start:start + WRITE_SLICE]
            target.collection.add(ids=[got["ids"][i] for i in part],
                                  embeddings=[got["embeddings"][i] for i in part],
                                  documents=[got["documents"][i] for i in part],
                                  metadatas=[got["metadatas"][i] for i in part])
        words += [keyword_row(got["ids"][i], got["documents"][i], got["metadatas"][i], target.header) for i in keep]
        ids += [got["ids"][i] for i in keep]
    files = source.catalog.files()
    with target.catalog.transaction() as conn:
        for r in rows:
            target.catalog.replace(conn, r["doc_id"], r["locator"], r["path"], r, r["text"], r["hash"], r["chunks"],
                                   r["version"])
        target.catalog.index_words(conn, words)
        target.catalog.bump(conn)
    for path, checksum, doc_ids in files:
        target.catalog.set_file(path, checksum, json.loads(doc_ids))
    found = sum(len(target.collection.get(ids=ids[i:i + PAGE], include=[])["ids"]) for i in range(0, len(ids), PAGE))
    expected = sum(r["chunks"] for r in rows)
    counts = {"documents": target.count(), "chunks": found, "files": len(files)}
    if counts["documents"] != len(rows) or found != expected or len(ids) != expected:
        raise ValueError(f"the copy into {where} does not add up: {len(rows)} reports and {expected} chunks in the "
                         f"source, {counts['documents']} reports and {found} chunks in the copy")
    return counts

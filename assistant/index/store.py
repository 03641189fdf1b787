"""Embed and store: chunks and their vectors in Chroma (embedded in the store folder, or a Chroma server); the
catalog of documents, file fingerprints, versions and the keyword index beside it (catalog.py: SQLite in the
store folder, or PostgreSQL with `catalog_url`).

How a question sees a consistent library while another thread, process or server writes (issue 16):
- every write of a document gets a new `version`, stored in its catalog row and in its chunks' metadata
  (and chunk ids), so old and new chunks can sit side by side in Chroma;
- a writer adds the new chunks first, then switches the catalog row in one transaction, and only then
  deletes the chunks it replaced (a removal: catalog row first, chunks after);
- a reader reads the catalog in one snapshot and keeps only the chunks whose version its snapshot names;
  the writer waits for readers that started before its commit (`Catalog.committed`) before it deletes
  their chunks.
So each question sees every document entirely before or entirely after a change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

from llama_index.core.schema import TextNode

from ..models import DocumentInfo, DocumentText, Filters
from .catalog import Catalog, StoreMismatch
from .sqlite_catalog import SqliteCatalog

__all__ = ["Store", "StoreMismatch", "StoreUnavailable"]

COLLECTION = "chunks"
# Chunks per Chroma write: Chroma holds Python's GIL through a write, freezing every question meanwhile
# (1,024 chunks at once: 0.6-1.3 s; 256: about 0.3 s).
WRITE_SLICE = 256


class StoreUnavailable(RuntimeError):
    """The Chroma server named by chroma_url cannot be reached (or refuses the collection)."""


class Store:
    def __init__(self, path: Path, build: dict[str, str], chroma_url: str | None = None,
                 collection: str = COLLECTION, catalog_url: str | None = None):
        """Open (or create) the store in `path`. `build` names the model and chunking its vectors come
        from; opening a store built differently raises StoreMismatch instead of mixing vectors.
        With `chroma_url` the vectors live in that Chroma server's `collection` (StoreUnavailable when
        it cannot be reached); with `catalog_url` (postgresql://...) the catalog lives in PostgreSQL,
        otherwise in `path`. `path` always holds what is this machine's own (caches, staged uploads)."""
        self.path = Path(path)
        self.shared = bool(chroma_url)  # the collection may hold other catalogs' chunks
        self.build = build
        self.header = bool(build.get("chunk_header"))
        self.path.mkdir(parents=True, exist_ok=True)
        self.chroma_url = chroma_url
        self.catalog = open_catalog(self.path, catalog_url)
        try:
            self.catalog.check_build(build, self.catalog.where)
            self.collection = _collection(self.path, chroma_url, collection)
        except BaseException:
            self.catalog.close()
            raise
        self._backfill_keyword_index()

    def snapshot(self):
        """Read the catalog as of one moment: every read inside sees the same committed state. Re-entrant;
        never yield from a generator inside it (the thread must not change)."""
        return self.catalog.snapshot()

    def vector_store(self):
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    # --- documents ---------------------------------------------------------------------------------

    def put_many(self, documents: list[tuple[str, str, str, dict, str, str, list[TextNode]]]) -> None:
        """Replace documents, each (doc_id, locator, path, meta, text, hash, nodes), and all their chunks.
        The new chunks go in under a new version, then the catalog switches to it in one transaction, then
        the chunks replaced go: a crash at any point leaves the old or the new document whole (repair
        deletes the chunks of the version the catalog does not name)."""
        if not documents:
            return
        version = uuid.uuid4().hex[:12]
        nodes = []
        for doc_id, *_, doc_nodes in documents:
            for i, node in enumerate(doc_nodes):
                node.id_ = f"{doc_id}::{version}::{i}"
                node.metadata["version"] = version
                node.excluded_embed_metadata_keys.append("version")
                node.excluded_llm_metadata_keys.append("version")
                nodes.append(node)
        vector_store = self.vector_store()
        for i in range(0, len(nodes), WRITE_SLICE):
            vector_store.add(nodes[i:i + WRITE_SLICE])
        replaced: list[tuple[str, str, int]] = []
        with self.catalog.transaction() as conn:
            for doc_id, locator, path, meta, text, hash_, doc_nodes in documents:
                self.catalog.unindex(conn, doc_id)
                self.catalog.index_words(conn, [keyword_row(n.node_id, n.text, n.metadata, self.header)
                                                for n in doc_nodes])
                replaced += self.catalog.replace(conn, doc_id, locator, path, meta, text, hash_, len(doc_nodes),
                                                 version)
            self.catalog.bump(conn)
        self.catalog.committed()
        self._delete_chunks(replaced)

    def _delete_chunks(self, rows: list[tuple[str, str, int]]) -> None:
        """Delete the chunks of these (doc_id, version, chunks) catalog rows, by id: their ids follow from
        the row (a where-filter would scan the whole collection)."""
        ids = [f"{d}::{v}::{i}" if v else f"{d}::{i}" for d, v, n in rows for i in range(n)]
        for i in range(0, len(ids), WRITE_SLICE):
            self.collection.delete(ids=ids[i:i + WRITE_SLICE])

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        """Remove documents: their catalog rows first (in one transaction), then their chunks."""
        wanted = list(dict.fromkeys(doc_ids))
        with self.catalog.transaction() as conn:
            rows = [r for d in wanted for r in self.catalog.delete(conn, d)]
            if rows:
                self.catalog.bump(conn)
        if rows:
            self.catalog.committed()
            self._delete_chunks(rows)
        return [r[0] for r in rows]

    # What questions and ingest read of the catalog (catalog.py says how).
    def versions(self, doc_ids: Iterable[str]) -> dict[str, str]:
        return self.catalog.versions(doc_ids)

    def by_locator(self, locator: str) -> tuple[str, str] | None:
        return self.catalog.by_locator(locator)

    def has(self, doc_id: str) -> bool:
        return self.catalog.has(doc_id)

    def documents(self) -> list[DocumentInfo]:
        return self.catalog.documents()

    def document(self, doc_id: str) -> DocumentText | None:
        return self.catalog.document(doc_id)

    def titles(self) -> dict[str, str]:
        return self.catalog.titles()

    def version(self) -> str:
        return self.catalog.version()

    def count(self) -> int:
        return self.catalog.count()

    def empty(self) -> bool:
        return self.catalog.empty()

    def headers(self, doc_ids: Iterable[str]) -> dict[str, dict]:
        return self.catalog.headers(doc_ids)

    def doc_ids_matching(self, filters: Filters) -> list[str]:
        return self.catalog.doc_ids_matching(filters)

    def texts(self, doc_ids: Iterable[str]) -> dict[str, str]:
        return self.catalog.texts(doc_ids)

    def file_checksum(self, path: str) -> tuple[str, list[str]] | None:
        return self.catalog.file_checksum(path)

    def set_file(self, path: str, checksum: str, doc_ids: list[str]) -> None:
        self.catalog.set_file(path, checksum, doc_ids)

    def docs_of_file(self, path: str) -> list[str]:
        return self.catalog.docs_of_file(path)

    def keyword_search(self, terms: list[str], limit: int, doc_ids: list[str] | None = None) -> list[dict]:
        return self.catalog.keyword_search(terms, limit, doc_ids)

    # --- upkeep ------------------------------------------------------------------------------------

    def _backfill_keyword_index(self) -> None:
        """A store written before the keyword index existed gets it from the chunks Chroma holds
        (no re-embedding)."""
        # Only a store with no keyword index at all: counts that differ may be another process's write
        # in flight, never to be copied. A PostgreSQL catalog is never older than its keyword index.
        if self.catalog.kind == "postgresql" or not self.catalog.keyword_index_empty():
            return
        if not (total := self.collection.count()):
            return
        with self.catalog.transaction() as conn:
            self.catalog.clear_keyword_index(conn)
            for offset in range(0, total, 5000):
                got = self.collection.get(include=["documents", "metadatas"], limit=5000, offset=offset)
                self.catalog.index_words(conn, [keyword_row(i, text, meta, self.header) for i, text, meta in
                                                zip(got["ids"], got["documents"], got["metadatas"])])

    def repair(self) -> dict[str, int]:
        """After a write that was cut short (kill -9, power loss): delete chunks that the catalog does not
        name (of a document it never got, or of a version it never switched to or has left), and mark
        documents whose chunks do not match their catalog row as changed, so that the next ingest writes
        them again; keyword-index rows of unknown documents go too."""
        catalog = self.catalog.all_versions()
        counts: dict[str, int] = {}
        orphans = []
        for offset in range(0, self.collection.count(), 5000):
            got = self.collection.get(include=["metadatas"], limit=5000, offset=offset)
            for chunk_id, meta in zip(got["ids"], got["metadatas"]):
                doc_id = meta["document_id"]
                if doc_id in catalog and catalog[doc_id] == meta.get("version", ""):
                    counts[doc_id] = counts.get(doc_id, 0) + 1
                # On a shared server, chunks of documents this catalog does not know may be another
                # library's; but a catalog on PostgreSQL is the library: what it does not name is orphaned.
                elif doc_id in catalog or not self.shared or self.catalog.kind == "postgresql":
                    orphans.append((doc_id, chunk_id))
        for i in range(0, len(orphans), 5000):
            self.collection.delete(ids=[c for _, c in orphans[i:i + 5000]])
        stale = [d for d, n in self.catalog.chunk_counts().items() if counts.get(d, 0) != n]
        # Opening the store rebuilt the keyword index from Chroma, orphans included: they go too.
        self.catalog.drop_orphan_words()
        self.catalog.mark_stale(stale)
        return {"orphans": len({d for d, _ in orphans}), "stale": len(stale)}

    def chunk_count(self) -> int:
        return self.collection.count()

    def health(self) -> dict:
        """Each backend, and whether it answers."""
        vectors = {"kind": "chroma server" if self.chroma_url else "chroma (embedded)",
                   "where": self.chroma_url or str(self.path / "chroma")}
        try:
            self.collection.count()
            vectors["ok"] = True
        except Exception as exc:  # any failure to answer is the answer here
            vectors.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return {"catalog": self.catalog.health(), "vectors": vectors}

    def close(self) -> None:
        self.catalog.close()


def open_catalog(folder: Path, catalog_url: str | None) -> Catalog:
    """SQLite in `folder`, or PostgreSQL at `catalog_url` (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB)."""
    if not catalog_url:
        return SqliteCatalog(folder)
    if not catalog_url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"--catalog {catalog_url!r}: expected postgresql://USER@HOST[:PORT]/DATABASE")
    from .pg_catalog import PostgresCatalog

    return PostgresCatalog(catalog_url)


def _collection(folder: Path, chroma_url: str | None, name: str):
    """The Chroma collection: in the store folder, or in the server at chroma_url."""
    import chromadb

    if chroma_url:
        import httpx
        from chromadb.errors import ChromaError

        host, port, ssl = _parse_chroma_url(chroma_url)
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                         settings=chromadb.Settings(anonymized_telemetry=False))
        except (ValueError, ChromaError, httpx.HTTPError) as exc:
            raise StoreUnavailable(f"cannot reach the Chroma server at {chroma_url}: {exc}") from exc
    else:
        client = chromadb.PersistentClient(path=str(folder / "chroma"),
                                           settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False))
    # No embedding function: Chroma's default one downloads a model; vectors always come from us.
    try:
        return client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    except Exception as exc:
        if not chroma_url:
            raise
        raise StoreUnavailable(f"the Chroma server at {chroma_url} refused the collection {name!r}: {exc}") from exc


def _parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """(host, port, ssl) of http[s]://HOST[:PORT]; the port defaults to 8000 (http) or 443 (https)."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"--chroma-url {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"--chroma-url {url!r}: {exc}") from exc
    https = parts.scheme == "https"
    return parts.hostname, port or (443 if https else 8000), https


def keyword_row(chunk_id: str, text: str, meta: dict, header: bool) -> tuple:
    """A chunk's keyword-index row: (header words, text, chunk_id, doc_id, start, end)."""
    header = " ".join(str(meta.get(k) or "") for k in ("title", "source")) if header else ""
    return (header, text, chunk_id, meta["doc_id"], meta["start"], meta["end"])

"""Embed and store: chunks and their vectors in Chroma; documents (metadata and full extracted text) and
file fingerprints in a SQLite catalog beside it.

Chroma keeps chunks, but a document-level record has no vector to go with it, so the catalog is a small
SQLite file: transactional, in the standard library, and one folder holds the whole store.

Over 400 lines: the catalog, its keyword index, the vectors and the versions that let a question see each
report whole are one transaction's business; split, they would share their private state.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from llama_index.core.schema import TextNode

from ..models import DocumentInfo, DocumentText, Filters

COLLECTION = "chunks"
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, locator TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    title TEXT NOT NULL, source TEXT, author TEXT, date TEXT, url TEXT, category TEXT,
    hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL, added_at TEXT DEFAULT CURRENT_TIMESTAMP,
    version TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, checksum TEXT NOT NULL, doc_ids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    header, text, chunk_id UNINDEXED, doc_id UNINDEXED, start UNINDEXED, "end" UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# The keyword (BM25) index is SQLite's FTS5 in the catalog file rather than a separate bm25s index:
# it is updated row by row in the same transaction as the document it belongs to, so it can never
# drift from the catalog, and ingest or remove never rebuilds it. Header words (title, outlet) weigh
# more than body words.
BM25_WEIGHTS = (2.0, 1.0)
META_FIELDS = ("title", "source", "author", "date", "url", "category")
# Chunks per Chroma write: Chroma holds Python's GIL through a write, freezing every question meanwhile
# (1,024 chunks at once: 0.6-1.3 s; 256: about 0.3 s).
WRITE_SLICE = 256
READER_GRACE_SECONDS = 30.0  # the longest a writer waits for older readers before deleting replaced chunks

# How a question sees a consistent library while another thread writes (issue 16):
# - every write of a document gets a new `version`, stored in its catalog row and in its chunks' metadata
#   (and chunk ids), so old and new chunks can sit side by side in Chroma;
# - a writer adds the new chunks first, then switches the catalog row in one transaction, and only then
#   deletes the chunks it replaced (a removal: catalog row first, chunks after);
# - a reader reads the catalog in one SQLite read transaction (WAL mode, a connection per thread) and
#   keeps only the chunks whose version its snapshot names; the writer waits for readers that started
#   before its commit before it deletes their chunks.
# So each question sees every document entirely before or entirely after a change.


class StoreMismatch(RuntimeError):
    """The store was built with another embedding model or chunking: its vectors would not mix."""


class StoreUnavailable(RuntimeError):
    """The Chroma server named by chroma_url cannot be reached (or refuses the collection)."""


class Store:
    def __init__(self, path: Path, build: dict[str, str], chroma_url: str | None = None,
                 collection: str = COLLECTION):
        """Open (or create) the store in `path`. `build` names the model and chunking its vectors come
        from; opening a store built differently raises StoreMismatch instead of mixing vectors.
        With `chroma_url` the vectors live in that Chroma server's `collection` (StoreUnavailable when
        it cannot be reached); the catalog stays in `path` either way."""
        import chromadb

        self.path = Path(path)
        self.shared = bool(chroma_url)  # the collection may hold other catalogs' chunks
        self.build = build
        self.header = bool(build.get("chunk_header"))
        self.path.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._readers: dict[int, int] = {}  # active snapshots: id -> the write generation they started in
        self._generation = 0
        self._changed = threading.Condition()
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only store keeps its journal mode
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        if "version" not in {r[1] for r in self.db.execute("PRAGMA table_info(documents)")}:
            with self.db:  # a store from before versions: its chunks carry none, matched by ''
                self.db.execute("ALTER TABLE documents ADD COLUMN version TEXT NOT NULL DEFAULT ''")
        self._check_build(build)
        if chroma_url:
            import httpx
            from chromadb.errors import ChromaError

            host, port, ssl = _parse_chroma_url(chroma_url)
            try:
                client = chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                             settings=chromadb.Settings(anonymized_telemetry=False))
            except (ValueError, ChromaError, httpx.HTTPError) as exc:
                self.db.close()
                raise StoreUnavailable(f"cannot reach the Chroma server at {chroma_url}: {exc}") from exc
        else:
            client = chromadb.PersistentClient(
                path=str(self.path / "chroma"),
                settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False),
            )
        # No embedding function: Chroma's default one downloads a model; vectors always come from us.
        try:
            self.collection = client.get_or_create_collection(collection, metadata={"hnsw:space": "cosine"},
                                                              embedding_function=None)
        except Exception as exc:
            if not chroma_url:
                raise
            self.db.close()
            raise StoreUnavailable(f"the Chroma server at {chroma_url} refused the collection {collection!r}: "
                                   f"{exc}") from exc
        self._backfill_keyword_index()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to the catalog: SQLite isolates transactions per connection, so a
        reader's snapshot never sees a writer's uncommitted rows."""
        conn = getattr(self._local, "db", None)
        if conn is None:
            conn = sqlite3.connect(self.path / "catalog.sqlite", timeout=30, check_same_thread=False)
            self._local.db = conn
            with self._changed:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read the catalog as of one moment: every read inside sees the same committed state. Re-entrant;
        never yield from a generator inside it (the thread must not change)."""
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._changed:
            self._readers[threading.get_ident()] = self._generation
        self.db.execute("BEGIN")
        self.db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the WAL snapshot starts at the first read
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            self.db.rollback()
            with self._changed:
                del self._readers[threading.get_ident()]
                self._changed.notify_all()

    def _committed(self) -> None:
        """After a catalog commit: wait until the readers that began before it are done, so that the chunks
        it replaced can go (bounded: a stuck reader delays deletes, never blocks writes for good)."""
        with self._changed:
            self._generation += 1
            generation = self._generation
            self._changed.wait_for(lambda: all(g >= generation for g in self._readers.values()),
                                   timeout=READER_GRACE_SECONDS)

    def versions(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """{doc_id: version} of those documents the catalog holds, as this thread sees it."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        return dict(self.db.execute(f"SELECT doc_id, version FROM documents WHERE doc_id IN "
                                    f"({','.join('?' * len(ids))})", ids).fetchall())

    def _check_build(self, build: dict[str, str]) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'build'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('build', ?)", (json.dumps(build, sort_keys=True),))
            return
        stored = json.loads(row[0])
        changed = {k: (stored.get(k), v) for k, v in build.items() if stored.get(k) != v}
        if changed:
            what = "; ".join(f"{k}: store has {a!r}, settings say {b!r}" for k, (a, b) in changed.items())
            raise StoreMismatch(f"the store {self.path} was built differently ({what}). Use the settings it was "
                                "built with, or a new --store folder, and ingest again.")

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
        with self.db:
            for doc_id, locator, path, meta, text, hash_, doc_nodes in documents:
                self.db.execute("DELETE FROM chunks_fts WHERE doc_id = ?", (doc_id,))
                self.db.executemany("INSERT INTO chunks_fts VALUES (?, ?, ?, ?, ?, ?)",
                                    [_fts_row(n.node_id, n.text, n.metadata, self.header) for n in doc_nodes])
                replaced += self.db.execute("SELECT doc_id, version, chunks FROM documents WHERE doc_id = ? OR "
                                            "locator = ?", (doc_id, locator)).fetchall()
                self.db.execute("DELETE FROM documents WHERE doc_id = ? OR locator = ?", (doc_id, locator))
                self.db.execute(
                    "INSERT INTO documents (doc_id, locator, path, title, source, author, date, url, category, "
                    "hash, chunks, text, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, locator, path, *(meta.get(k) for k in META_FIELDS), hash_, len(doc_nodes), text,
                     version),
                )
            self._bump()
        self._committed()
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
        with self.db:
            rows = [r for d in wanted for r in self.db.execute(
                "SELECT doc_id, version, chunks FROM documents WHERE doc_id = ?", (d,)).fetchall()]
            removed = [r[0] for r in rows]
            for doc_id in removed:
                self.db.execute("DELETE FROM chunks_fts WHERE doc_id = ?", (doc_id,))
                self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            if removed:
                self._bump()
        if removed:
            self._committed()
            self._delete_chunks(rows)
        return removed

    def _bump(self) -> None:
        """Count the change in the catalog (inside the writer's transaction): `version()` reads it."""
        self.db.execute("INSERT INTO meta VALUES ('changes', '1') ON CONFLICT(key) DO UPDATE SET "
                        "value = CAST(value AS INTEGER) + 1")

    def by_locator(self, locator: str) -> tuple[str, str] | None:
        """(doc_id, hash) of the document read from this file or JSONL line before, if any."""
        row = self.db.execute("SELECT doc_id, hash FROM documents WHERE locator = ?", (locator,)).fetchone()
        return (row[0], row[1]) if row else None

    def has(self, doc_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def documents(self) -> list[DocumentInfo]:
        rows = self.db.execute(
            "SELECT doc_id, title, source, author, date, url, path, chunks, hash FROM documents "
            "ORDER BY date IS NULL, date DESC, title").fetchall()
        return [DocumentInfo(doc_id=r[0], title=r[1], source=r[2], author=r[3], date=r[4], url=r[5], path=r[6],
                             chunks=r[7], hash=r[8]) for r in rows]

    def document(self, doc_id: str) -> DocumentText | None:
        r = self.db.execute(
            "SELECT doc_id, title, source, author, date, url, path, chunks, hash, text FROM documents "
            "WHERE doc_id = ?", (doc_id,)).fetchone()
        if r is None:
            return None
        return DocumentText(doc_id=r[0], title=r[1], source=r[2], author=r[3], date=r[4], url=r[5], path=r[6],
                            chunks=r[7], hash=r[8], text=r[9])

    def titles(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT doc_id, title FROM documents"))

    def version(self) -> str:
        """Changes whenever a document is added, replaced or removed (by this process or another)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'changes'").fetchone()
        return row[0] if row else "0"

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM documents").fetchone()[0]

    def empty(self) -> bool:
        return self.db.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None

    def headers(self, doc_ids: Iterable[str]) -> dict[str, dict]:
        """{doc_id: {title, source, date}}: what a passage shows of its report."""
        ids = list(doc_ids)
        rows = self.db.execute(f"SELECT doc_id, title, source, date FROM documents WHERE doc_id IN "
                               f"({','.join('?' * len(ids))})", ids).fetchall()
        return {r[0]: {"title": r[1], "source": r[2], "date": r[3]} for r in rows}

    def doc_ids_matching(self, filters: Filters) -> list[str]:
        """The documents that pass `filters` (outlet, date range, ids); undated ones fail a date filter."""
        where, args = [], []
        if filters.sources:
            where.append(f"lower(source) IN ({','.join('?' * len(filters.sources))})")
            args += [s.lower() for s in filters.sources]
        if filters.since:
            where.append("date >= ?")
            args.append(filters.since)
        if filters.until:
            where.append("substr(date, 1, 10) <= ?")
            args.append(filters.until)
        if filters.doc_ids:
            where.append(f"doc_id IN ({','.join('?' * len(filters.doc_ids))})")
            args += filters.doc_ids
        sql = "SELECT doc_id FROM documents" + (" WHERE " + " AND ".join(where) if where else "")
        return [r[0] for r in self.db.execute(sql, args)]

    def texts(self, doc_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        rows = self.db.execute(f"SELECT doc_id, text FROM documents WHERE doc_id IN ({','.join('?' * len(ids))})",
                               ids).fetchall()
        return dict(rows)

    # --- files -------------------------------------------------------------------------------------

    def file_checksum(self, path: str) -> tuple[str, list[str]] | None:
        row = self.db.execute("SELECT checksum, doc_ids FROM files WHERE path = ?", (path,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def set_file(self, path: str, checksum: str, doc_ids: list[str]) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (path, checksum, json.dumps(doc_ids)))

    def docs_of_file(self, path: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT doc_id FROM documents WHERE path = ?", (path,))]

    # --- keyword index ------------------------------------------------------------------------------

    def keyword_search(self, terms: list[str], limit: int, doc_ids: list[str] | None = None) -> list[dict]:
        """The chunks that best match any of `terms` by BM25 (best first), as dicts with chunk_id, doc_id,
        start, end, text and score (higher is better); only from `doc_ids` when given."""
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, args = "chunks_fts MATCH ?", [match]
        if doc_ids is not None:
            where += f" AND doc_id IN ({','.join('?' * len(doc_ids))})"
            args += doc_ids
        rows = self.db.execute(
            f"SELECT chunk_id, doc_id, start, \"end\", text, bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) "
            f"AS r FROM chunks_fts WHERE {where} ORDER BY r LIMIT ?", [*args, limit]).fetchall()
        return [{"chunk_id": r[0], "doc_id": r[1], "start": int(r[2]), "end": int(r[3]), "text": r[4],
                 "score": -r[5]} for r in rows]

    def _backfill_keyword_index(self) -> None:
        """A store written before the keyword index existed gets it from the chunks Chroma holds
        (no re-embedding)."""
        # Only a store with no keyword index at all: counts that differ may be another process's write
        # in flight, never to be copied.
        if self.db.execute("SELECT 1 FROM chunks_fts LIMIT 1").fetchone() or not (total := self.collection.count()):
            return
        with self.db:
            self.db.execute("DELETE FROM chunks_fts")
            for offset in range(0, total, 5000):
                got = self.collection.get(include=["documents", "metadatas"], limit=5000, offset=offset)
                self.db.executemany("INSERT INTO chunks_fts VALUES (?, ?, ?, ?, ?, ?)",
                                    [_fts_row(i, text, meta, self.header) for i, text, meta in
                                     zip(got["ids"], got["documents"], got["metadatas"])])

    def repair(self) -> dict[str, int]:
        """After a write that was cut short (kill -9, power loss): delete chunks that the catalog does not
        name (of a document it never got, or of a version it never switched to or has left), and mark
        documents whose chunks do not match their catalog row as changed, so that the next ingest writes
        them again; keyword-index rows of unknown documents go too."""
        catalog = dict(self.db.execute("SELECT doc_id, version FROM documents"))
        counts: dict[str, int] = {}
        orphans = []
        for offset in range(0, self.collection.count(), 5000):
            got = self.collection.get(include=["metadatas"], limit=5000, offset=offset)
            for chunk_id, meta in zip(got["ids"], got["metadatas"]):
                doc_id = meta["document_id"]
                if doc_id in catalog and catalog[doc_id] == meta.get("version", ""):
                    counts[doc_id] = counts.get(doc_id, 0) + 1
                # On a server, chunks of documents this catalog does not know may be another machine's.
                elif doc_id in catalog or not self.shared:
                    orphans.append((doc_id, chunk_id))
        for i in range(0, len(orphans), 5000):
            self.collection.delete(ids=[c for _, c in orphans[i:i + 5000]])
        chunks = dict(self.db.execute("SELECT doc_id, chunks FROM documents"))
        stale = [d for d, n in chunks.items() if counts.get(d, 0) != n]
        with self.db:
            # Opening the store rebuilt the keyword index from Chroma, orphans included: they go too.
            self.db.execute("DELETE FROM chunks_fts WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
            self.db.executemany("UPDATE documents SET hash = 'incomplete' WHERE doc_id = ?", [(d,) for d in stale])
            self.db.executemany("DELETE FROM files WHERE doc_ids LIKE ?", [(f'%"{d}"%',) for d in stale])
        return {"orphans": len({d for d, _ in orphans}), "stale": len(stale)}

    def chunk_count(self) -> int:
        return self.collection.count()

    def close(self) -> None:
        with self._changed:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


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


def _fts_row(chunk_id: str, text: str, meta: dict, header: bool) -> tuple:
    header = " ".join(str(meta.get(k) or "") for k in ("title", "source")) if header else ""
    return (header, text, chunk_id, meta["doc_id"], meta["start"], meta["end"])

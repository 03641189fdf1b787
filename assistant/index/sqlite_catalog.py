"""The catalog as a SQLite file in the store folder: the default, one folder holds a whole store.

How a question sees a consistent library while another thread writes: a reader reads the catalog in one
SQLite read transaction (WAL mode, a connection per thread), and a writer, after its commit, waits for the
readers that began before it (`committed`) before it deletes the chunks it replaced.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .catalog import READER_GRACE_SECONDS, Catalog
from .lock import DIRTY_FILE, writer

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, locator TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    title TEXT NOT NULL, source TEXT, author TEXT, date TEXT, url TEXT, category TEXT,
    hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL, added_at TEXT DEFAULT CURRENT_TIMESTAMP,
    version TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, checksum TEXT NOT NULL, doc_ids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, server TEXT NOT NULL, status TEXT NOT NULL,
                                 body TEXT NOT NULL, heartbeat REAL NOT NULL);
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


class SqliteCatalog(Catalog):
    """The catalog in `folder/catalog.sqlite`."""

    kind = "sqlite"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._readers: dict[int, int] = {}  # active snapshots: thread -> the write generation they started in
        self._generation = 0
        self._changed = threading.Condition()
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only store keeps its journal mode
            self.db.execute("PRAGMA journal_mode=WAL")
        try:
            self.db.executescript(SQLITE_SCHEMA)
        except sqlite3.OperationalError as exc:  # a read-only store from before the jobs table: read it as it is
            if "readonly" not in str(exc):
                raise
        if "version" not in {r[1] for r in self.db.execute("PRAGMA table_info(documents)")}:
            with self.db:  # a store from before versions: its chunks carry none, matched by ''
                self.db.execute("ALTER TABLE documents ADD COLUMN version TEXT NOT NULL DEFAULT ''")

    @property
    def where(self) -> str:
        return str(self.folder)

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to the catalog: SQLite isolates transactions per connection, so a
        reader's snapshot never sees a writer's uncommitted rows."""
        conn = getattr(self._local, "db", None)
        if conn is None:
            conn = sqlite3.connect(self.folder / "catalog.sqlite", timeout=30, check_same_thread=False)
            self._local.db = conn
            with self._changed:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        yield self.db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db

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

    def committed(self) -> None:
        """After a catalog commit: wait until the readers that began before it are done, so that the chunks
        it replaced can go (bounded: a stuck reader delays deletes, never blocks writes for good)."""
        with self._changed:
            self._generation += 1
            generation = self._generation
            self._changed.wait_for(lambda: all(g >= generation for g in self._readers.values()),
                                   timeout=READER_GRACE_SECONDS)

    def writer(self, wait_seconds: float) -> contextlib.AbstractContextManager[bool]:
        """One writer per store across processes: a file lock in the store folder (index/lock.py)."""
        return writer(self.folder, wait_seconds)

    def interrupted(self) -> bool:
        return (self.folder / DIRTY_FILE).exists()

    def index_words(self, conn, rows: list[tuple]) -> None:
        self._many(conn, "INSERT INTO chunks_fts VALUES (?, ?, ?, ?, ?, ?)", rows)

    def unindex(self, conn, doc_id: str) -> None:
        conn.execute("DELETE FROM chunks_fts WHERE doc_id = ?", (doc_id,))

    def keyword_search(self, terms: list[str], limit: int, doc_ids: list[str] | None = None) -> list[dict]:
        """The chunks that best match any of `terms` by BM25 (best first), as dicts with chunk_id, doc_id,
        start, end, text and score (higher is better); only from `doc_ids` when given."""
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, args = "chunks_fts MATCH ?", [match]
        if doc_ids is not None:
            where += f" AND doc_id IN ({self._in(doc_ids)})"
            args += doc_ids
        rows = self._all(
            f"SELECT chunk_id, doc_id, start, \"end\", text, bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) "
            f"AS r FROM chunks_fts WHERE {where} ORDER BY r LIMIT ?", [*args, limit])
        return [{"chunk_id": r[0], "doc_id": r[1], "start": int(r[2]), "end": int(r[3]), "text": r[4],
                 "score": -r[5]} for r in rows]

    def keyword_index_empty(self) -> bool:
        return self._one("SELECT 1 FROM chunks_fts LIMIT 1") is None

    def clear_keyword_index(self, conn) -> None:
        conn.execute("DELETE FROM chunks_fts")

    def drop_orphan_words(self) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM chunks_fts WHERE doc_id NOT IN (SELECT doc_id FROM documents)")

    def health(self) -> dict:
        try:
            self._one("SELECT 1")
            return {"kind": "sqlite", "where": str(self.folder / "catalog.sqlite"), "ok": True}
        except sqlite3.Error as exc:
            return {"kind": "sqlite", "where": str(self.folder / "catalog.sqlite"), "ok": False, "error": str(exc)}

    def close(self) -> None:
        with self._changed:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

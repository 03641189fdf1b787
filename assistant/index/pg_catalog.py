"""The catalog on PostgreSQL (`catalog_url`): what lets several `assistant serve` processes, on one machine or
many, share one library. Documents, texts, file fingerprints, versions, upload jobs, uploaded files and the
keyword index live in the database; the vectors in a Chroma server (`chroma_url`).

- Connections come from a psycopg pool that checks each one before lending it, so after PostgreSQL restarts
  the servers reconnect by themselves; while it is down, a call fails with CatalogUnavailable (a 503).
- One writer at a time across servers: a PostgreSQL advisory lock, held by a connection of its own; the
  kernel of the idea is the same as the file lock of one machine: it goes when its holder dies.
- A question reads in one REPEATABLE READ transaction: one snapshot of the whole catalog. A writer, after
  its commit, waits until no transaction of ours that began before the commit is still open (PostgreSQL's
  own pg_stat_activity is the register of readers, on every server), bounded by READER_GRACE_SECONDS, and
  only then deletes the chunks it replaced.
- Keyword search is PostgreSQL's full-text search: a tsvector of header words (weight A) and body words
  (weight B), a GIN index, ranked by ts_rank (docs/scale-out.md compares it with FTS5's BM25).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .catalog import READER_GRACE_SECONDS, Catalog

APPLICATION = "report-assistant"
LOCK_KEY = 0x52_41_77  # the advisory lock every writer of a library takes ("RAw")
CONNECT_SECONDS = 5.0  # how long a call waits for a connection before it reports the catalog unavailable
POOL_SIZE = 16
# Header words count twice body words, as BM25_WEIGHTS do for FTS5: ts_rank's weights are {D, C, B, A}.
RANK_WEIGHTS = "{0.0, 0.0, 0.5, 1.0}"
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, locator TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    title TEXT NOT NULL, source TEXT, author TEXT, date TEXT, url TEXT, category TEXT,
    hash TEXT NOT NULL, chunks INTEGER NOT NULL, text TEXT NOT NULL, added_at TIMESTAMPTZ DEFAULT now(),
    version TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS documents_path ON documents (path);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, checksum TEXT NOT NULL, doc_ids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, server TEXT NOT NULL, status TEXT NOT NULL,
                                 body TEXT NOT NULL, heartbeat DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (name TEXT PRIMARY KEY, data BYTEA NOT NULL, stored_at TIMESTAMPTZ DEFAULT now());
CREATE TABLE IF NOT EXISTS chunk_words (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    header TEXT NOT NULL, text TEXT NOT NULL,
    words TSVECTOR GENERATED ALWAYS AS (setweight(to_tsvector('english', header), 'A') ||
                                        setweight(to_tsvector('english', text), 'B')) STORED
);
CREATE INDEX IF NOT EXISTS chunk_words_words ON chunk_words USING GIN (words);
CREATE INDEX IF NOT EXISTS chunk_words_doc ON chunk_words (doc_id);
"""


class CatalogUnavailable(RuntimeError):
    """PostgreSQL does not answer (down, restarting, unreachable): try again shortly."""


def redact(url: str) -> str:
    """The URL without its password, for messages and health."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresCatalog(Catalog):
    kind = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str):
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        self.url = url
        self.where = redact(url)
        self._local = threading.local()
        self._errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self._timeout = PoolTimeout
        # reconnect_timeout: the pool's back-off between attempts doubles while PostgreSQL is down; giving up
        # after a few seconds resets it (the next call tries at once), so servers resume within seconds of
        # PostgreSQL's return however long it was away.
        self.pool = ConnectionPool(url, min_size=1, max_size=POOL_SIZE, open=False, timeout=CONNECT_SECONDS,
                                   reconnect_timeout=CONNECT_SECONDS, check=ConnectionPool.check_connection,
                                   name="catalog",
                                   kwargs={"autocommit": True, "application_name": APPLICATION})
        try:
            self.pool.open(wait=True, timeout=CONNECT_SECONDS * 2)
        except Exception as exc:
            self.pool.close()
            raise CatalogUnavailable(f"cannot reach the PostgreSQL catalog at {self.where}: {exc}") from None
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))  # two servers creating at once
            conn.execute(SCHEMA)

    # --- connections -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator:
        """This thread's connection inside a transaction or snapshot; otherwise one lent by the pool."""
        bound = getattr(self._local, "conn", None)
        if bound is not None:
            yield bound
            return
        try:
            with self.pool.connection() as conn:
                yield conn
        except self._errors as exc:
            raise CatalogUnavailable(f"the PostgreSQL catalog at {self.where} does not answer: {exc}") from None
        except self._timeout:
            raise CatalogUnavailable(f"the PostgreSQL catalog at {self.where} does not answer "
                                     f"(no connection within {CONNECT_SECONDS:g} s)") from None

    @contextlib.contextmanager
    def _bound(self, begin: str) -> Iterator:
        """Run the block in one transaction on one connection, bound to this thread; re-entrant."""
        if getattr(self._local, "conn", None) is not None:
            yield self._local.conn
            return
        with self._connection() as conn:
            conn.execute(begin)
            self._local.conn = conn
            try:
                yield conn
            except BaseException:
                self._local.conn = None
                with contextlib.suppress(*self._errors):
                    conn.execute("ROLLBACK")
                raise
            self._local.conn = None
            conn.execute("ROLLBACK" if begin.endswith("READ ONLY") else "COMMIT")

    def transaction(self) -> contextlib.AbstractContextManager:
        return self._bound("BEGIN")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read the catalog as of one moment (REPEATABLE READ: one snapshot for the whole transaction)."""
        with self._bound("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"):
            yield

    def committed(self) -> None:
        """After a commit: wait until the transactions of ours (any server's) that began before it have ended,
        so that no question still reads the chunks about to be deleted. Bounded: a stuck reader delays the
        delete by at most READER_GRACE_SECONDS."""
        with self._connection() as conn:
            (now,) = conn.execute("SELECT clock_timestamp()").fetchone()
            deadline = time.monotonic() + READER_GRACE_SECONDS
            while time.monotonic() < deadline:
                (older,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                    "application_name = %s AND pid <> pg_backend_pid() AND xact_start < %s",
                    (APPLICATION, now)).fetchone()
                if not older:
                    return
                time.sleep(0.05)

    @contextlib.contextmanager
    def writer(self, wait_seconds: float) -> Iterator[bool]:
        """Hold the library's advisory lock (across servers). Yields whether the previous write was cut short
        (its marker row is still there), so that the caller can repair what it left."""
        from .lock import StoreBusy

        with self._connection() as conn:
            deadline = time.monotonic() + wait_seconds
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                if time.monotonic() >= deadline:
                    holder = conn.execute("SELECT value FROM meta WHERE key = 'writer'").fetchone()
                    raise StoreBusy(f"another server ({holder[0] if holder else 'unknown'}) is writing to the "
                                    f"library at {self.where}; try again when it has finished "
                                    "(setting ingest_wait_seconds)")
                time.sleep(0.2)
            try:
                me = f"pid {os.getpid()} on {socket.gethostname()}"
                interrupted = conn.execute("SELECT 1 FROM meta WHERE key = 'write_in_progress'").fetchone() is not None
                conn.execute("INSERT INTO meta (key, value) VALUES ('write_in_progress', %s), ('writer', %s) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (me, me))
                yield interrupted
                conn.execute("DELETE FROM meta WHERE key = 'write_in_progress'")
            finally:
                with contextlib.suppress(*self._errors):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    def interrupted(self) -> bool:
        return self._one("SELECT 1 FROM meta WHERE key = 'write_in_progress'") is not None

    # --- keyword index -----------------------------------------------------------------------------

    def index_words(self, conn, rows: list[tuple]) -> None:
        self._many(conn, 'INSERT INTO chunk_words (header, text, chunk_id, doc_id, start, "end") '
                         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chunk_id) DO NOTHING", rows)

    def unindex(self, conn, doc_id: str) -> None:
        conn.execute("DELETE FROM chunk_words WHERE doc_id = %s", (doc_id,))

    def keyword_search(self, terms: list[str], limit: int, doc_ids: list[str] | None = None) -> list[dict]:
        """The chunks that best match any of `terms` (best first), as FTS5's keyword_search returns them."""
        words = sorted({w for t in terms for w in re.findall(r"\w+", t.lower())})
        if not words:
            return []
        query = " | ".join(words)
        where, args = "words @@ q", [query]
        if doc_ids is not None:
            where += " AND doc_id = ANY(%s)"
            args.append(list(doc_ids))
        rows = self._all(
            f"SELECT chunk_id, doc_id, start, \"end\", text, ts_rank('{RANK_WEIGHTS}', words, q) AS r "
            f"FROM chunk_words, to_tsquery('english', %s) AS q WHERE {where} ORDER BY r DESC, chunk_id LIMIT %s",
            [*args, limit])
        return [{"chunk_id": r[0], "doc_id": r[1], "start": int(r[2]), "end": int(r[3]), "text": r[4],
                 "score": float(r[5])} for r in rows]

    def keyword_index_empty(self) -> bool:
        return self._one("SELECT 1 FROM chunk_words LIMIT 1") is None

    def clear_keyword_index(self, conn) -> None:
        conn.execute("DELETE FROM chunk_words")

    def drop_orphan_words(self) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM chunk_words WHERE doc_id NOT IN (SELECT doc_id FROM documents)")

    # --- uploads -----------------------------------------------------------------------------------

    def keep_upload(self, path: Path) -> None:
        """An uploaded file, kept where every server can read it again (by its name: `upload:NAME`)."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO uploads (name, data) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                         "SET data = excluded.data, stored_at = now()", (path.name, path.read_bytes()))

    def upload(self, name: str) -> bytes | None:
        row = self._one("SELECT data FROM uploads WHERE name = ?", (name,))
        return bytes(row[0]) if row else None

    # --- lifecycle ---------------------------------------------------------------------------------

    def health(self) -> dict:
        try:
            self._one("SELECT 1")
            return {"kind": "postgresql", "where": self.where, "ok": True}
        except CatalogUnavailable as exc:
            return {"kind": "postgresql", "where": self.where, "ok": False, "error": str(exc)}

    def close(self) -> None:
        self.pool.close()

"""The catalog: documents (metadata and full extracted text), file fingerprints, versions, upload jobs and the
keyword index. One interface, two engines: SQLite in the store folder (the default: one folder holds a whole
store, no server to run) and PostgreSQL (`catalog_url`: several servers over one library, pg_catalog.py).

The SQL both engines understand lives here once, written with `?` placeholders; each engine says how to
connect, hold a transaction, take a consistent snapshot, lock out other writers and search words.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

from ..models import DocumentInfo, DocumentText, Filters

META_FIELDS = ("title", "source", "author", "date", "url", "category")
READER_GRACE_SECONDS = 30.0  # the longest a writer waits for older readers before deleting replaced chunks
JOB_STALE_SECONDS = 30.0  # a running job whose server has not said so for this long died with its server
DOC_COLUMNS = "doc_id, title, source, author, date, url, path, chunks, hash"


class StoreMismatch(RuntimeError):
    """The store was built with another embedding model or chunking: its vectors would not mix."""


class Catalog:
    """What both engines share. A subclass provides `_connection()`, `transaction()`, `snapshot()`,
    `committed()`, `writer()`, the keyword index (`index_words`, `unindex`, `keyword_search`) and `health()`."""

    kind = ""
    placeholder = "?"

    # --- plumbing ----------------------------------------------------------------------------------

    def _connection(self) -> contextlib.AbstractContextManager:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _all(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._connection() as conn:
            return list(conn.execute(self._sql(sql), tuple(args)).fetchall())

    def _one(self, sql: str, args: Iterable = ()) -> tuple | None:
        with self._connection() as conn:
            return conn.execute(self._sql(sql), tuple(args)).fetchone()

    def _exec(self, conn, sql: str, args: Iterable = ()) -> None:
        conn.execute(self._sql(sql), tuple(args))

    def _many(self, conn, sql: str, rows: list[tuple]) -> None:
        if rows:
            conn.cursor().executemany(self._sql(sql), rows)

    @staticmethod
    def _in(values: list) -> str:
        return ",".join("?" * len(values))

    # --- build and change count --------------------------------------------------------------------

    def check_build(self, build: dict[str, str], where: str) -> None:
        """Record the build of a new catalog; raise StoreMismatch when an existing one was built differently."""
        if not self.build():  # written only when missing: a store opened read-only stays untouched
            with self.transaction() as conn:
                self._exec(conn, "INSERT INTO meta (key, value) VALUES ('build', ?) ON CONFLICT (key) DO NOTHING",
                           (json.dumps(build, sort_keys=True),))
        stored = self.build()
        changed = {k: (stored.get(k), v) for k, v in build.items() if stored.get(k) != v}
        if changed:
            what = "; ".join(f"{k}: store has {a!r}, settings say {b!r}" for k, (a, b) in changed.items())
            raise StoreMismatch(f"the store {where} was built differently ({what}). Use the settings it was "
                                "built with, or a new --store folder, and ingest again.")

    def build(self) -> dict[str, str]:
        row = self._one("SELECT value FROM meta WHERE key = 'build'")
        return json.loads(row[0]) if row else {}

    def bump(self, conn) -> None:
        """Count a change in the catalog (inside the writer's transaction): `version()` reads it."""
        self._exec(conn, "INSERT INTO meta (key, value) VALUES ('changes', '1') ON CONFLICT (key) DO UPDATE SET "
                         "value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)")

    def version(self) -> str:
        """Changes whenever a document is added, replaced or removed (by this process or another)."""
        row = self._one("SELECT value FROM meta WHERE key = 'changes'")
        return row[0] if row else "0"

    # --- documents ---------------------------------------------------------------------------------

    def replace(self, conn, doc_id: str, locator: str, path: str, meta: dict, text: str, hash_: str,
                chunks: int, version: str) -> list[tuple[str, str, int]]:
        """Put one document's row in place of the one with its id or locator; returns the (doc_id, version,
        chunks) rows it replaced."""
        replaced = self._rows(conn, "SELECT doc_id, version, chunks FROM documents WHERE doc_id = ? OR locator = ?",
                              (doc_id, locator))
        self._exec(conn, "DELETE FROM documents WHERE doc_id = ? OR locator = ?", (doc_id, locator))
        self._exec(conn, "INSERT INTO documents (doc_id, locator, path, title, source, author, date, url, category, "
                         "hash, chunks, text, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (doc_id, locator, path, *(meta.get(k) for k in META_FIELDS), hash_, chunks, text, version))
        return replaced

    def delete(self, conn, doc_id: str) -> list[tuple[str, str, int]]:
        """Delete one document's row and its keyword-index rows; returns the (doc_id, version, chunks) row."""
        rows = self._rows(conn, "SELECT doc_id, version, chunks FROM documents WHERE doc_id = ?", (doc_id,))
        self.unindex(conn, doc_id)
        self._exec(conn, "DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return rows

    def _rows(self, conn, sql: str, args: tuple) -> list[tuple]:
        return [tuple(r) for r in conn.execute(self._sql(sql), args).fetchall()]

    def versions(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """{doc_id: version} of those documents the catalog holds, as this thread sees it."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        return dict(self._all(f"SELECT doc_id, version FROM documents WHERE doc_id IN ({self._in(ids)})", ids))

    def all_versions(self) -> dict[str, str]:
        return dict(self._all("SELECT doc_id, version FROM documents"))

    def chunk_counts(self) -> dict[str, int]:
        return dict(self._all("SELECT doc_id, chunks FROM documents"))

    def by_locator(self, locator: str) -> tuple[str, str] | None:
        """(doc_id, hash) of the document read from this file or JSONL line before, if any."""
        row = self._one("SELECT doc_id, hash FROM documents WHERE locator = ?", (locator,))
        return (row[0], row[1]) if row else None

    def has(self, doc_id: str) -> bool:
        return self._one("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)) is not None

    def documents(self) -> list[DocumentInfo]:
        rows = self._all(f"SELECT {DOC_COLUMNS} FROM documents ORDER BY date IS NULL, date DESC, title")
        return [DocumentInfo(**dict(zip(DOC_COLUMNS.split(", "), r))) for r in rows]

    def document(self, doc_id: str) -> DocumentText | None:
        r = self._one(f"SELECT {DOC_COLUMNS}, text FROM documents WHERE doc_id = ?", (doc_id,))
        return DocumentText(**dict(zip([*DOC_COLUMNS.split(", "), "text"], r))) if r else None

    def rows(self) -> list[dict]:
        """Every document row whole, for `assistant store copy`."""
        columns = ["doc_id", "locator", "path", *META_FIELDS, "hash", "chunks", "text", "version"]
        return [dict(zip(columns, r)) for r in self._all(f"SELECT {', '.join(columns)} FROM documents")]

    def titles(self) -> dict[str, str]:
        return dict(self._all("SELECT doc_id, title FROM documents"))

    def count(self) -> int:
        return self._one("SELECT count(*) FROM documents")[0]

    def empty(self) -> bool:
        return self._one("SELECT 1 FROM documents LIMIT 1") is None

    def headers(self, doc_ids: Iterable[str]) -> dict[str, dict]:
        """{doc_id: {title, source, date}}: what a passage shows of its report."""
        ids = list(doc_ids)
        if not ids:
            return {}
        rows = self._all(f"SELECT doc_id, title, source, date FROM documents WHERE doc_id IN ({self._in(ids)})", ids)
        return {r[0]: {"title": r[1], "source": r[2], "date": r[3]} for r in rows}

    def doc_ids_matching(self, filters: Filters) -> list[str]:
        """The documents that pass `filters` (outlet, date range, ids); undated ones fail a date filter."""
        where, args = [], []
        if filters.sources:
            where.append(f"lower(source) IN ({self._in(filters.sources)})")
            args += [s.lower() for s in filters.sources]
        if filters.since:
            where.append("date >= ?")
            args.append(filters.since)
        if filters.until:
            where.append("substr(date, 1, 10) <= ?")
            args.append(filters.until)
        if filters.doc_ids:
            where.append(f"doc_id IN ({self._in(filters.doc_ids)})")
            args += filters.doc_ids
        sql = "SELECT doc_id FROM documents" + (" WHERE " + " AND ".join(where) if where else "")
        return [r[0] for r in self._all(sql, args)]

    def texts(self, doc_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        return dict(self._all(f"SELECT doc_id, text FROM documents WHERE doc_id IN ({self._in(ids)})", ids))

    def mark_stale(self, doc_ids: list[str]) -> None:
        """Documents whose chunks do not match their row: the next ingest writes them again."""
        with self.transaction() as conn:
            self._many(conn, "UPDATE documents SET hash = 'incomplete' WHERE doc_id = ?", [(d,) for d in doc_ids])
            self._many(conn, "DELETE FROM files WHERE doc_ids LIKE ?", [(f'%"{d}"%',) for d in doc_ids])

    # --- files -------------------------------------------------------------------------------------

    def file_checksum(self, path: str) -> tuple[str, list[str]] | None:
        row = self._one("SELECT checksum, doc_ids FROM files WHERE path = ?", (path,))
        return (row[0], json.loads(row[1])) if row else None

    def set_file(self, path: str, checksum: str, doc_ids: list[str]) -> None:
        with self.transaction() as conn:
            self._exec(conn, "INSERT INTO files (path, checksum, doc_ids) VALUES (?, ?, ?) ON CONFLICT (path) DO "
                             "UPDATE SET checksum = excluded.checksum, doc_ids = excluded.doc_ids",
                       (path, checksum, json.dumps(doc_ids)))

    def files(self) -> list[tuple[str, str, str]]:
        return self._all("SELECT path, checksum, doc_ids FROM files")

    def docs_of_file(self, path: str) -> list[str]:
        return [r[0] for r in self._all("SELECT doc_id FROM documents WHERE path = ?", (path,))]

    # --- keyword index -----------------------------------------------------------------------------

    def index_words(self, conn, rows: list[tuple]) -> None:
        """Add keyword-index rows (header, text, chunk_id, doc_id, start, end)."""
        raise NotImplementedError

    def unindex(self, conn, doc_id: str) -> None:
        raise NotImplementedError

    def keyword_search(self, terms: list[str], limit: int, doc_ids: list[str] | None = None) -> list[dict]:
        raise NotImplementedError

    def keyword_index_empty(self) -> bool:
        raise NotImplementedError

    def drop_orphan_words(self) -> None:
        """Keyword-index rows of documents the catalog does not hold go."""
        raise NotImplementedError

    # --- upload jobs -------------------------------------------------------------------------------

    def save_job(self, job: dict, server: str) -> None:
        """Keep an upload job where every server over this catalog can read it; saving it again is its
        heartbeat."""
        with self.transaction() as conn:
            self._exec(conn, "INSERT INTO jobs (id, server, status, body, heartbeat) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT (id) DO UPDATE SET server = excluded.server, status = excluded.status, "
                             "body = excluded.body, heartbeat = excluded.heartbeat",
                       (job["id"], server, job["status"], json.dumps(job), time.time()))

    def beat(self, job_ids: list[str]) -> None:
        with self.transaction() as conn:
            self._many(conn, "UPDATE jobs SET heartbeat = ? WHERE id = ?", [(time.time(), j) for j in job_ids])

    def job(self, job_id: str) -> dict | None:
        """The job as saved; a queued or running job whose server stopped saying so is reported failed."""
        row = self._one("SELECT server, status, body, heartbeat FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return None
        server, status, body, heartbeat = row
        job = json.loads(body)
        if status in ("queued", "running") and time.time() - heartbeat > JOB_STALE_SECONDS:
            job.update(status="failed", error=f"ServerLost: the server running this job ({server}) stopped "
                                              f"{time.time() - heartbeat:.0f} s ago; upload the files again")
        return job

    def keep_upload(self, path: Path) -> None:
        """An uploaded file, kept where every server can read it: a local store's uploads folder already is."""

    # --- lifecycle ---------------------------------------------------------------------------------

    def health(self) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

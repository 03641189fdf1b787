"""The keyword index on PostgreSQL (full-text search, ts_rank) against SQLite's FTS5 (BM25): retrieval side by
side on the same stores, questions and vectors. Prints a table, writes it as Markdown, asserts nothing.

  .venv/bin/python evals/keyword_index.py [--sets corpus dragonball realtimeqa] [--store NAME=FOLDER ...]
                                          [--postgres URL] [--out FILE]

Each set's SQLite store (built under --work unless --store names one) is copied into a new PostgreSQL database
with `assistant store copy`'s code (the vectors are copied, so dense retrieval is the same on both sides); then
BM25 alone and the default hybrid retrieval run on both. Without --postgres, a server of its own is started
(tests/backends.py: Debian's PostgreSQL in a temporary folder).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

from retrieval import SETS, TOP_K, score, table  # noqa: E402

ROWS = [("BM25 only", {"retrieval_mode": "bm25"}), ("hybrid (the default)", {})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["corpus", "dragonball", "realtimeqa"], choices=list(SETS))
    parser.add_argument("--store", action="append", default=[], metavar="NAME=FOLDER",
                        help="an existing store (default settings) of a set, instead of building one")
    parser.add_argument("--work", default="/tmp/keyword-index-eval", help="stores are built here once, then reused")
    parser.add_argument("--postgres", help="postgresql://USER@HOST:PORT (a database per set is created there)")
    parser.add_argument("--out", help="also write the table as Markdown to this file")
    args = parser.parse_args()
    stores = dict(s.split("=", 1) for s in args.store)

    server = None
    if not args.postgres:
        from tests.backends import start_postgres

        server = start_postgres()
        args.postgres = server.url.rsplit("/", 1)[0]
    lines = [f"top {TOP_K} chunks; the same vectors on both sides", ""]
    try:
        for name in args.sets:
            docs, questions = SETS[name]
            if not docs.exists():
                print(f"skipping {name}: {docs} is absent", file=sys.stderr)
                continue
            from assistant.evaluation.run import load_set

            cases = [c for c in load_set(questions) if c.answerable]
            local = Path(stores.get(name) or Path(args.work) / name)
            shared = copy_to_postgres(local, docs, args.postgres, name)
            rows = []
            for label, overrides in ROWS:
                for engine, (folder, url) in (("FTS5 (SQLite)", (local, None)), ("PostgreSQL", shared)):
                    rows.append((f"{label}, {engine}", evaluate(folder, url, cases, overrides)))
            lines += table(f"{name}: {len(cases)} answerable questions", rows)
    finally:
        if server:
            from tests.backends import stop_postgres

            stop_postgres(server)
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


def copy_to_postgres(local: Path, docs: Path, postgres: str, name: str) -> tuple[Path, str]:
    """The set's SQLite store (built if absent), copied into a new database: (its folder, its catalog URL)."""
    import psycopg

    from assistant import Assistant
    from assistant.index.copy import Place, copy_library

    if not (local / "catalog.sqlite").exists():
        report = Assistant(store=local).ingest([docs])
        print(f"{name}: built {local} ({report.chunks} chunks)", file=sys.stderr)
    database = f"kw_{name}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = f"{postgres}/{database}"
    folder = Path(tempfile.mkdtemp(prefix=f"kw-{name}-"))
    started = time.perf_counter()
    counts = copy_library(Place(local), Place(folder, catalog_url=url))
    print(f"{name}: copied {counts} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder, url


def evaluate(folder: Path, catalog_url: str | None, cases: list, overrides: dict) -> dict:
    from assistant import Assistant
    from assistant.settings import load_settings

    assistant = Assistant(settings=load_settings(store=folder, catalog_url=catalog_url, **overrides))
    results = []
    for case in cases:
        started = time.perf_counter()
        vector = assistant.embed_model.get_query_embedding(case.question)
        passages = assistant.retriever.retrieve(case.question, vector, TOP_K)
        results.append((case, [{"doc_id": p.doc_id, "text": p.text} for p in passages],
                        (time.perf_counter() - started) * 1000))
    out = score(results, chunks=assistant.store.chunk_count())
    assistant.store.close()
    return out


if __name__ == "__main__":
    main()

"""assistant/index/lock.py and store.py: Crashes and concurrent writers (issue 8): an ingest killed with SIGKILL at
random points, then run again, leaves the store exactly as an uninterrupted ingest does; two ingests into one store
never corrupt it (the second waits, or refuses with a message)."""

from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CORPUS, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """The bundled corpus three times over (titles changed, so each copy is a report of its own): enough
    work that a kill lands in the middle of embedding and storing."""
    folder = tmp_path_factory.mktemp("reports")
    for copy in range(4):
        for path in sorted(CORPUS.glob("*")):
            if path.suffix in (".md", ".txt"):
                text = re.sub(r"^doc_id: (.*)$", rf"doc_id: \1-copy-{copy}", path.read_text(), count=1, flags=re.M)
                (folder / f"{copy}-{path.name}").write_text(text + f"\n\nFiled as copy {copy}.\n")
    return folder


def ingest(store: Path, *paths: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "assistant", "ingest", *map(str, paths), "--store", str(store),
                             "--quiet"], cwd=ROOT, env={**os.environ, **(env or {})}, **popen)


def state(store: Path) -> dict:
    """Documents with hash and chunk count, and what Chroma and the keyword index hold."""
    import chromadb

    db = sqlite3.connect(store / "catalog.sqlite")
    documents = {r[0]: (r[1], r[2]) for r in db.execute("SELECT doc_id, hash, chunks FROM documents")}
    fts = db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
    db.close()
    collection = chromadb.PersistentClient(path=str(store / "chroma"), settings=chromadb.Settings(
        anonymized_telemetry=False)).get_collection("chunks")
    got = collection.get(include=["metadatas"])
    chroma_docs = {m["document_id"] for m in got["metadatas"]}
    return {"documents": documents, "fts": fts, "chroma": len(got["ids"]), "chroma_docs": chroma_docs,
            "unique_ids": len(set(got["ids"])), "marker": (store / "write-in-progress").exists()}


def assert_consistent(s: dict) -> None:
    total = sum(chunks for _, chunks in s["documents"].values())
    assert s["chroma"] == s["unique_ids"] == s["fts"] == total  # no duplicates, no orphans, index in step
    assert s["chroma_docs"] == set(s["documents"])
    assert not s["marker"]


def test_kill_9_at_random_points_then_ingest_again(reports, tmp_path):
    started = time.monotonic()
    assert ingest(tmp_path / "reference", reports).wait(timeout=600) == 0
    took = time.monotonic() - started
    reference = state(tmp_path / "reference")
    assert_consistent(reference)
    rng = random.Random(8)
    for attempt in range(3):
        store = tmp_path / f"killed-{attempt}"
        process = ingest(store, reports)
        time.sleep(rng.uniform(0.35, 0.95) * took)  # past the model load, into embedding and storing
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert ingest(store, reports).wait(timeout=600) == 0
        after = state(store)
        assert_consistent(after)
        assert after["documents"] == reference["documents"]


def test_two_ingests_into_one_store(reports, tmp_path):
    store = tmp_path / "store"
    extra = tmp_path / "extra.md"
    extra.write_text("---\ntitle: Ferry strike\n---\nFerry crews walked out on Friday, halting 42 crossings.\n")
    first = ingest(store, reports)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the first one holds the writer lock
        if (store / "writer.lock").exists():
            with open(store / "writer.lock") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                except BlockingIOError:
                    break
        time.sleep(0.1)
    refused = ingest(store, extra, env={"ASSISTANT_INGEST_WAIT_SECONDS": "0"}, stderr=subprocess.PIPE, text=True)
    _, err = refused.communicate(timeout=300)
    waiting = ingest(store, extra, stderr=subprocess.PIPE, text=True)
    assert refused.returncode == 5 and f"pid {first.pid}" in err and "is writing to the store" in err
    assert first.wait(timeout=600) == 0
    _, err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0 and "waiting for another process" in err
    final = state(store)
    assert_consistent(final)
    assert len(final["documents"]) == len(list(reports.iterdir())) + 1


def test_repair_removes_orphans_from_chroma_and_the_keyword_index(fresh):
    """What a kill between the chunks and the catalog row leaves: chunks of a report the catalog never got."""
    fresh.ingest([CORPUS / "2023-10-06-tumangang-freight-cars.md"])
    store = fresh.store
    store.collection.add(ids=["ghost::0"], embeddings=[[0.1] * 384], documents=["ghost text"],
                         metadatas=[{"document_id": "ghost", "doc_id": "ghost", "start": 0, "end": 10}])
    store.catalog.db.execute("INSERT INTO chunks_fts VALUES ('', 'ghost text', 'ghost::0', 'ghost', 0, 10)")
    store.catalog.db.commit()
    assert store.repair() == {"orphans": 1, "stale": 0}
    assert store.chunk_count() == sum(d.chunks for d in fresh.documents())
    assert store.catalog.db.execute("SELECT count(*) FROM chunks_fts WHERE doc_id = 'ghost'").fetchone()[0] == 0

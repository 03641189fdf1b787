"""assistant/index/catalog.py and pg_catalog.py: the same tests on both catalogs (SQLite in the store folder,
PostgreSQL on a real server), so that neither can drift: documents, versions, files, the keyword index,
snapshots while a writer replaces, the writer lock, repair after a cut-short write, jobs, and
`assistant store copy` between a folder and PostgreSQL plus a Chroma server."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid

import pytest

from .conftest import CORPUS, new_database

QUESTION = "How many freight cars did satellite images show at Tumangang station?"
REPORTS = ["2023-10-06-tumangang-freight-cars.md", "2023-09-13-kim-putin-summit-vostochny.md",
           "2023-09-14-seoul-warns-arms-exchange.md"]


@pytest.fixture(params=["sqlite", "postgresql"])
def library(request, tmp_path, model_parts):
    """An empty library on each catalog (the vectors in the store folder's Chroma either way)."""
    from assistant import Assistant
    from assistant.settings import load_settings

    url = None
    if request.param == "postgresql":
        url = new_database(request.getfixturevalue("postgres"), f"t{uuid.uuid4().hex[:10]}")
    a = Assistant(settings=load_settings(store=tmp_path / "store", catalog_url=url))
    a.__dict__["embed_model"], a.__dict__["chunker"] = model_parts
    yield a
    a.store.close()


@pytest.fixture
def reports(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    for name in REPORTS:
        shutil.copy(CORPUS / name, folder / name)
    return folder


def test_documents_files_and_versions(library, reports):
    store = library.store
    report = library.ingest([reports])
    assert report.added == 3 and report.failed == 0
    assert store.count() == 3 and not store.empty()
    ids = {d.doc_id for d in store.documents()}
    doc_id = next(d for d in ids if "tumangang" in d)
    doc = store.document(doc_id)
    assert "73 freight cars" in doc.text and store.texts([doc_id])[doc_id] == doc.text
    assert store.headers([doc_id])[doc_id]["title"] == doc.title
    assert store.chunk_count() == sum(d.chunks for d in store.documents())
    path = str((reports / "2023-10-06-tumangang-freight-cars.md").resolve())
    assert store.docs_of_file(path) == [doc_id] and store.file_checksum(path)[1] == [doc_id]
    before, changes = store.versions([doc_id])[doc_id], store.version()

    assert library.ingest([reports]).unchanged == 3
    (reports / "2023-10-06-tumangang-freight-cars.md").write_text(doc.text + "\n\nA new paragraph on 12 wagons.\n")
    assert library.ingest([reports]).updated == 1
    assert store.versions([doc_id])[doc_id] != before and store.version() != changes
    assert store.chunk_count() == sum(d.chunks for d in store.documents()), "the replaced chunks are gone"

    assert doc_id in {r["doc_id"] for r in store.keyword_search(["tumangang"], 10)}
    assert library.remove([doc_id]) == [doc_id]
    assert not store.has(doc_id) and store.document(doc_id) is None and store.count() == 2
    assert store.chunk_count() == sum(d.chunks for d in store.documents())
    assert all(r["doc_id"] != doc_id for r in store.keyword_search(["tumangang"], 10)), "its keyword rows went too"


def test_filters_and_keyword_search(library, reports):
    from assistant.models import Filters

    library.ingest([reports])
    store = library.store
    docs = store.documents()
    assert docs == sorted(docs, key=lambda d: (d.date is None, [-ord(c) for c in d.date or ""], d.title))
    one = docs[0]
    assert set(store.doc_ids_matching(Filters(sources=[one.source.upper()]))) == {
        d.doc_id for d in docs if d.source == one.source}
    assert set(store.doc_ids_matching(Filters(until="1999-01-01"))) == set()
    hits = store.keyword_search(["freight", "tumangang"], 5)
    assert hits and "tumangang" in hits[0]["doc_id"]
    assert hits == sorted(hits, key=lambda h: -h["score"])
    text = store.document(hits[0]["doc_id"]).text
    assert hits[0]["text"].strip() and hits[0]["end"] > hits[0]["start"] and len(text) >= hits[0]["end"]
    other = [d.doc_id for d in docs if "tumangang" not in d.doc_id]
    assert all(h["doc_id"] in other for h in store.keyword_search(["freight", "tumangang"], 5, other))


def test_a_question_sees_the_report_it_started_with(library, reports):
    """A snapshot keeps its versions while a writer replaces the report, and the writer deletes the old chunks
    only when the snapshot is over."""
    library.ingest([reports])
    store = library.store
    doc_id = next(d.doc_id for d in store.documents() if "tumangang" in d.doc_id)
    path = reports / "2023-10-06-tumangang-freight-cars.md"
    inside, release, written = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def reader():
        with store.snapshot():
            seen["before"] = store.versions([doc_id])[doc_id]
            inside.set()
            release.wait(20)
            seen["after"] = store.versions([doc_id])[doc_id]

    def writer():
        path.write_text(path.read_text() + "\nOne more line.\n")
        library.ingest([path])
        written.set()

    t1 = threading.Thread(target=reader)
    t1.start()
    assert inside.wait(20)
    t2 = threading.Thread(target=writer)
    t2.start()
    time.sleep(3)
    assert not written.is_set(), "the writer waits for the older reader before deleting its chunks"
    old = {"$and": [{"version": seen["before"]}, {"document_id": doc_id}]}
    old_chunks = store.collection.get(where=old, include=[])["ids"]
    assert old_chunks, "the reader's chunks are still there"
    release.set()
    t1.join(20)
    t2.join(40)
    assert written.is_set()
    assert seen["after"] == seen["before"], "one snapshot, one version"
    assert store.versions([doc_id])[doc_id] != seen["before"]
    assert not store.collection.get(where=old, include=[])["ids"]


def test_one_writer_at_a_time_and_repair_after_a_cut_short_write(library, reports):
    from assistant.index.lock import StoreBusy

    library.ingest([reports])
    catalog = library.store.catalog
    with catalog.writer(1) as interrupted:
        assert not interrupted
        with pytest.raises(StoreBusy, match="writing to"), catalog.writer(0.5):  # a second writer, as of another
            pass  # process or server: a file lock of its own, a PostgreSQL session of its own
    with pytest.raises(RuntimeError, match="cut"), catalog.writer(1):
        raise RuntimeError("cut short")
    assert catalog.interrupted()
    ghost = "ghost::v1::0"
    library.store.collection.add(ids=[ghost], embeddings=[[0.1] * 384], documents=["ghost"],
                                 metadatas=[{"document_id": "ghost", "doc_id": "ghost", "version": "v1"}])
    library.warm()  # a server's start: finishes what the cut-short write left
    assert not catalog.interrupted()
    assert not library.store.collection.get(ids=[ghost])["ids"], "the orphan chunk is gone"


def test_jobs_are_kept_and_a_silent_server_is_reported(library, monkeypatch):
    from assistant.index import catalog as catalog_module

    catalog = library.store.catalog
    job = {"id": "j1", "status": "running", "files": ["a.pdf"], "files_done": 0, "error": None}
    catalog.save_job(job, "server A")
    assert catalog.job("j1")["status"] == "running" and catalog.job("nope") is None
    catalog.beat(["j1"])
    monkeypatch.setattr(catalog_module, "JOB_STALE_SECONDS", 0.0)
    time.sleep(0.05)
    lost = catalog.job("j1")
    assert lost["status"] == "failed" and "server A" in lost["error"]
    catalog.save_job({**job, "status": "done"}, "server A")
    assert catalog.job("j1")["status"] == "done", "a finished job is never reported lost"


def test_a_store_built_differently_is_refused(library, tmp_path):
    from assistant.index.store import Store, StoreMismatch

    store = library.store
    build = dict(store.build, chunk_size="999")
    with pytest.raises(StoreMismatch, match="chunk_size"):
        Store(tmp_path / "other", build, catalog_url=library.settings.catalog_url) if library.settings.catalog_url \
            else Store(store.path, build)


def test_the_same_answer_on_both_catalogs(library, reports, assistant):
    library.ingest([reports])
    answer = library.ask(QUESTION)
    assert "73 freight cars" in answer.answer
    for c in answer.citations:
        assert library.store.document(c.doc_id).text[c.start:c.end] == c.quote
    health = library.store.health()
    assert health["catalog"]["ok"] and health["vectors"]["ok"]
    assert health["catalog"]["kind"] == library.store.catalog.kind


def test_store_copy_to_postgresql_and_chroma_server_and_back(assistant, tmp_path, postgres, chroma_server):
    """The session's store, copied into PostgreSQL plus a Chroma server and back into a folder: the same reports,
    chunks and answer, the vectors copied (the model encodes nothing)."""
    from typer.testing import CliRunner

    from assistant.cli import app

    url = new_database(postgres, f"copy{uuid.uuid4().hex[:8]}")
    collection = f"c{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    out = runner.invoke(app, ["store", "copy", str(assistant.settings.store), url, "--dest-chroma-url",
                              chroma_server.url, "--dest-collection", collection, "--json"])
    assert out.exit_code == 0, out.output
    counts = json.loads(out.stdout)
    assert counts["documents"] == assistant.store.count()
    assert counts["chunks"] == assistant.store.chunk_count()
    back = tmp_path / "back"
    result = runner.invoke(app, ["store", "copy", url, str(back), "--src-chroma-url", chroma_server.url,
                                 "--src-collection", collection, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == counts
    again = runner.invoke(app, ["store", "copy", str(assistant.settings.store), url, "--dest-chroma-url",
                                chroma_server.url, "--dest-collection", collection])
    assert again.exit_code == 2 and "already holds" in again.output
    from assistant import Assistant

    copied = Assistant(store=back)
    copied.__dict__["embed_model"], copied.__dict__["chunker"] = assistant.embed_model, assistant.chunker
    assert copied.store.count() == assistant.store.count()
    assert copied.store.chunk_count() == assistant.store.chunk_count()
    assert copied.store.keyword_search(["freight"], 5) == assistant.store.keyword_search(["freight"], 5)
    assert copied.ask(QUESTION).answer == assistant.ask(QUESTION).answer

"""assistant/index/store.py with a Chroma server: Chroma in client/server mode (--chroma-url): a real `chroma run`
server holds the vectors, the catalog stays in the --store folder, and the assistant behaves as with the embedded
store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from .backends import free_port, start_chroma, stop_chroma
from .conftest import CORPUS

QUESTION = "How many freight cars did satellite images show at Tumangang station?"
DOC = "tumangang-freight-cars-nam"


@pytest.fixture(scope="module")
def chroma_url():
    """A Chroma server of this module's own (its tests expect the default collection to start empty)."""
    server = start_chroma()
    try:
        yield server.url
    finally:
        stop_chroma(server)


def server_assistant(store: Path, url: str, model_parts, **settings):
    from assistant import Assistant
    from assistant.settings import load_settings

    a = Assistant(settings=load_settings(store=store, chroma_url=url, **settings))
    a.__dict__["embed_model"], a.__dict__["chunker"] = model_parts
    return a


def server_collection(url: str, name: str):
    import chromadb

    from assistant.index.store import _parse_chroma_url

    host, port, ssl = _parse_chroma_url(url)
    client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chromadb.Settings(anonymized_telemetry=False))
    return client.get_collection(name, embedding_function=None)


def test_ingest_ask_remove_through_the_server(tmp_path, chroma_url, model_parts):
    a = server_assistant(tmp_path / "store", chroma_url, model_parts)
    report = a.ingest([CORPUS])
    assert report.failed == 0, report.documents
    assert report.added == len(a.documents()) > 0

    # The vectors are on the server; the catalog (texts, keyword index, fingerprints) is in --store.
    assert (tmp_path / "store" / "catalog.sqlite").is_file()
    assert not (tmp_path / "store" / "chroma").exists()
    total = sum(d.chunks for d in a.documents())
    assert a.store.chunk_count() == total
    assert server_collection(chroma_url, "chunks").count() == total

    answer = a.ask(QUESTION)
    assert not answer.abstained
    assert any("73" in c.quote for c in answer.citations), answer.answer
    for c in answer.citations:
        assert a.document(c.doc_id).text[c.start:c.end] == c.quote

    # Ingesting again changes nothing; removing takes the document's chunks off the server.
    assert a.ingest([CORPUS]).unchanged == report.added
    doc_chunks = a.document(DOC).chunks
    assert len(server_collection(chroma_url, "chunks").get(where={"document_id": DOC})["ids"]) == doc_chunks > 0
    assert a.remove([DOC]) == [DOC]
    assert server_collection(chroma_url, "chunks").get(where={"document_id": DOC})["ids"] == []
    assert a.store.chunk_count() == total - doc_chunks == sum(d.chunks for d in a.documents())

    # Another corpus on the same server, in its own collection and with its own catalog, is independent.
    b = server_assistant(tmp_path / "other", chroma_url, model_parts, chroma_collection="other-corpus")
    assert b.documents() == [] and b.store.chunk_count() == 0
    one = CORPUS / "2023-10-06-tumangang-freight-cars.md"
    assert b.ingest([one]).added == 1
    assert [d.doc_id for d in b.documents()] == [DOC]
    assert b.store.chunk_count() == b.document(DOC).chunks
    assert server_collection(chroma_url, "other-corpus").count() == b.document(DOC).chunks
    assert a.store.chunk_count() == total - doc_chunks  # the first corpus did not move
    assert not a.store.has(DOC)
    assert any("73" in c.quote for c in b.ask(QUESTION).citations)


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    from assistant import Assistant
    from assistant.index.store import StoreUnavailable
    from assistant.settings import load_settings

    url = f"http://127.0.0.1:{free_port()}"
    a = Assistant(settings=load_settings(store=tmp_path / "store", chroma_url=url))
    with pytest.raises(StoreUnavailable, match=f"cannot reach the Chroma server at {url}"):
        a.store  # noqa: B018


def test_chroma_url_parsing_and_setting(monkeypatch):
    from assistant.index.store import _parse_chroma_url
    from assistant.settings import load_settings

    assert _parse_chroma_url("http://chroma.internal") == ("chroma.internal", 8000, False)
    assert _parse_chroma_url("https://chroma.example.org/") == ("chroma.example.org", 443, True)
    assert _parse_chroma_url("http://10.0.0.5:9000") == ("10.0.0.5", 9000, False)
    for bad in ("chroma.internal:8000", "ftp://host", "http://host/prefix", "http://host:notaport"):
        with pytest.raises(ValueError, match="--chroma-url"):
            _parse_chroma_url(bad)
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", "http://10.0.0.5:9000")
    monkeypatch.setenv("ASSISTANT_CHROMA_COLLECTION", "wires")
    settings = load_settings()
    assert (settings.chroma_url, settings.chroma_collection) == ("http://10.0.0.5:9000", "wires")


def test_cli_reports_an_unreachable_server(tmp_path):
    from assistant.cli import app

    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["ask", QUESTION, "--store", str(tmp_path / "store"), "--chroma-url", url])
    assert result.exit_code == 2, result.output
    assert f"error: cannot reach the Chroma server at {url}" in result.stderr
    bad = CliRunner().invoke(app, ["docs", "list", "--store", str(tmp_path / "store"), "--chroma-url", "ftp://x"])
    assert bad.exit_code == 2 and "--chroma-url" in bad.stderr

"""assistant/cli/: The CLI contract, through Typer's runner, against real stores."""

import json
import re

import pytest
from typer.testing import CliRunner

from assistant.cli import app

from .conftest import CORPUS

runner = CliRunner()


@pytest.fixture
def store(assistant):
    return str(assistant.settings.store)


def run(*args, code=0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_ingest_json_contract(store):
    data = json.loads(run("ingest", CORPUS, "--store", store, "--json", "--quiet").stdout)
    assert set(data) >= {"documents", "added", "updated", "unchanged", "failed", "chunks", "seconds"}
    for d in data["documents"]:
        assert set(d) == {"doc_id", "path", "title", "status", "chunks", "error"}
        assert d["status"] == "unchanged"


def test_ask_prints_confidence_and_the_low_confidence_warning(store, assistant):
    out = run("ask", "How long did Kim's trip to Russia last?", "--store", store).stdout
    answer = assistant.ask("How long did Kim's trip to Russia last?")
    assert f"Confidence: {answer.confidence:.2f}" in out and "Reports differ" in out
    assert ("Low confidence: this may not answer the question" in out) == answer.low_confidence


def test_ask_json_contract(store):
    data = json.loads(run("ask", "How many freight cars did satellite images show at Tumangang station?",
                          "--store", store, "--json").stdout)
    assert set(data) == {"question", "answer", "abstained", "citations", "retrieved", "timings_ms", "answerer",
                         "query", "sentences", "confidence", "low_confidence", "disagreements", "updates"}
    assert 0 <= data["confidence"] <= 1 and isinstance(data["low_confidence"], bool)
    for d in data["disagreements"]:
        assert d["about"] and all(v["value"] and v["markers"] for v in d["values"])
    assert data["answerer"] == "extractive" and data["query"] == data["question"]
    assert all(s["supported"] and s["markers"] for s in data["sentences"])
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}
    assert {int(m) for m in re.findall(r"\[(\d+)\]", data["answer"])} == {c["marker"] for c in data["citations"]}
    c = data["citations"][0]
    assert set(c) == {"marker", "doc_id", "title", "source", "author", "date", "url", "path", "quote", "start", "end",
                      "score", "also_in", "supported", "support_score", "repaired"}
    assert "73" in c["quote"] and c["source"] and c["date"]
    shown = json.loads(run("docs", "show", c["doc_id"], "--store", store, "--json").stdout)
    assert shown["text"][c["start"]:c["end"]] == c["quote"]
    for r in data["retrieved"]:
        assert set(r) == {"rank", "doc_id", "chunk_id", "title", "source", "date", "start", "end", "score", "fused",
                          "text", "copies"}


def test_ask_readable_lists_sources(store):
    out = run("ask", "How long did Kim Jong-un's trip to Russia last?", "--store", store).stdout
    assert "Sources:" in out and "[1]" in out and "six days" in out and "seven" in out  # the reports differ


def test_abstention_in_the_terminal(store):
    out = run("ask", "What is the boiling point of mercury on Mars?", "--store", store).stdout
    assert out.startswith("The reports do not say") and "Closest passages" in out


def test_docs_list_and_show(store):
    docs = json.loads(run("docs", "list", "--store", store, "--json").stdout)
    assert docs and set(docs[0]) >= {"doc_id", "title", "source", "date", "path", "chunks", "hash"}
    assert "documents" in run("docs", "list", "--store", store).stdout
    assert "Tumangang" in run("docs", "show", "tumangang-freight-cars-nam", "--store", store).stdout
    result = run("docs", "show", "nope", "--store", store, code=1)
    assert "no document with doc_id 'nope'" in result.output


def test_partial_ingest_exits_3_and_remove(tmp_path, fresh):
    (tmp_path / "ok.md").write_text("# Port\n\nThe port handled 12 ships on Sunday.")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    store = str(fresh.settings.store)
    # the runner shares this process: give it the already-loaded model through the fresh store's settings
    result = run("ingest", tmp_path, "--store", store, "--json", "--quiet", code=3)
    data = json.loads(result.stdout)
    assert data["added"] == 1 and data["failed"] == 1
    assert "bad.pdf" in next(d["error"] for d in data["documents"] if d["status"] == "failed")
    doc_id = next(d["doc_id"] for d in data["documents"] if d["status"] == "added")
    run("docs", "remove", doc_id, "--store", store)
    assert json.loads(run("docs", "list", "--store", store, "--json").stdout) == []
    assert "no document" in run("docs", "remove", doc_id, "--store", store, code=1).output


def test_usage_errors_exit_2(store, tmp_path):
    assert runner.invoke(app, ["ask"]).exit_code == 2
    assert runner.invoke(app, ["ask", "   ", "--store", store]).exit_code == 2
    assert runner.invoke(app, ["ingest", str(CORPUS), "--config", str(tmp_path / "missing.toml")]).exit_code == 2


def test_help_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys; from assistant.cli import app; app(['--help'], standalone_mode=False); " \
           "print('torch' in sys.modules, 'chromadb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")

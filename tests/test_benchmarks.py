"""evals/benchmarks/: Issue 9: every benchmark under evals/benchmarks/ runs end to end at tiny sizes and prints its
figures. Timings are printed, never asserted: the figures that count come from full runs (RESULTS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CORPUS, SHARED

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "evals" / "benchmarks"
SET = Path(__file__).resolve().parent.parent / "evals" / "sets" / "corpus.jsonl"


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / script), *map(str, args)], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    return done.stdout


def _tiny_jsonl(path: Path, count: int = 4) -> Path:
    rows = [{"doc_id": f"r{i}", "title": f.stem.replace("_", " "), "body": f.read_text(encoding="utf-8")}
            for i, f in enumerate(sorted(CORPUS.glob("*.txt"))[:count])]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_ingest_ask_benchmark(tmp_path):
    args = ["--questions", SET, "--max-questions", 5, "--work", tmp_path / "work"]
    if (SHARED / "tools" / "stock_llamaindex.py").exists():  # CI has it; a fresh clone runs without
        args.append("--stock")
    out = _run("ingest_ask.py", _tiny_jsonl(tmp_path / "tiny.jsonl"), *args)
    for figure in ("| ingest / bare encode |", "| re-ingest unchanged |", "reports changed |",
                   "| peak RSS after ingest |", "first reading: total p50 / p95"):
        assert figure in out
    if "--stock" in args:
        assert "| stock LlamaIndex" in out and "| this package |" in out


def test_scale_benchmark(tmp_path, fresh):
    source = _tiny_jsonl(tmp_path / "tiny.jsonl", count=3)
    fresh.ingest([source])
    chunks = fresh.store.chunk_count()
    fresh.store.close()
    out = _run("scale.py", fresh.settings.store, source, "--sizes", chunks, 2 * chunks, "--max-questions", 2,
               "--work", tmp_path / "work")
    # The second store holds every report twice (the copies under new doc ids), all through the real ingest.
    assert f"| {chunks:,} | 3 |" in out and f"| {2 * chunks:,} | 6 |" in out
    assert out.count("MiB |") >= 4  # ingest and serve peak RSS, per size


def test_startup_benchmark(assistant):
    out = _run("startup.py", "--store", assistant.settings.store, "--runs", 1)
    assert "| heavy packages `--help` imports | " in out
    assert "no torch: met" in out  # --help must not load torch (a fact, not a timing)
    assert "| package | seconds |" in out


def test_profiles(tmp_path):
    out = _run("profiles.py", _tiny_jsonl(tmp_path / "tiny.jsonl", count=2), "--out", tmp_path / "profiles")
    ingest = (tmp_path / "profiles" / "ingest.txt").read_text()
    ask = (tmp_path / "profiles" / "ask.txt").read_text()
    assert "Assistant.ingest" in ingest and "Assistant.ask" in ask
    assert "== ingest of" in out


def test_ask_latency_benchmark(assistant, tmp_path_factory):
    from .conftest import store_copy

    store = store_copy(assistant, tmp_path_factory, "latency")
    out = _run("ask_latency.py", store, "--questions", SET, "--max-questions", 3)
    assert "- first reading: retrieval p50" in out and "- again: total p50" in out


def test_timeline_benchmark(assistant, tmp_path_factory):
    from .conftest import store_copy

    out = _run("timeline.py", store_copy(assistant, tmp_path_factory, "timeline"), "--topics", 2)
    for figure in ("- first reading: p50", "- again: p50", "- events per timeline:", "- compare by outlet"):
        assert figure in out
    assert "inexact: 0" in out


def test_serve_load_benchmark(assistant, tmp_path_factory):
    """The three parts of the server benchmark (warm start, load, writes beside reads) on the corpus store,
    with two clients and two uploaded pages."""
    from .conftest import shared_file, store_copy

    shared_file("data/realtimeqa/docs.jsonl")
    store = store_copy(assistant, tmp_path_factory, "serve-load")
    out = _run("serve_load.py", "--store", store, "--clients", 2, "--rounds", 1, "--uploads", 2, "--every", 1)
    for figure in ("first / warm median:", "throughput:", "questions meanwhile:", "added 2,"):
        assert figure in out
    assert "inconsistent answers: 0 of" in out and "errors:" not in out


def test_scale_out_benchmark(assistant, tmp_path_factory):
    """One server over the local store, one and two over PostgreSQL and a Chroma server (their own, started by
    the benchmark), on the corpus store, with two clients."""
    from .conftest import shared_file, store_copy

    shared_file("data/realtimeqa/qa.jsonl")
    store = store_copy(assistant, tmp_path_factory, "scale-out")
    out = _run("scale_out.py", "--store", store, "--clients", 2, "--rounds", 1)
    assert "copied into PostgreSQL and the Chroma server" in out
    for row in ("one server, local store", "one server, PostgreSQL", "two servers, PostgreSQL"):
        assert f"| {row}" in out and f"| {row}" in out.split("two servers / one server")[0]
    assert "two servers / one server on the same backends:" in out
    assert all(line.rstrip().endswith("| 0 |") for line in out.splitlines() if line.startswith("| one")
               or line.startswith("| two")), "no errors"


def test_keyword_index_comparison(assistant, tmp_path):
    """evals/keyword_index.py on the corpus set: FTS5 and PostgreSQL rows on the same store."""
    done = subprocess.run([sys.executable, str(BENCH.parent / "keyword_index.py"), "--sets", "corpus", "--store",
                           f"corpus={assistant.settings.store}", "--out", str(tmp_path / "kw.md")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("BM25 only, FTS5 (SQLite)", "BM25 only, PostgreSQL", "hybrid (the default), PostgreSQL"):
        assert row in done.stdout
    assert (tmp_path / "kw.md").read_text().startswith("top 20 chunks")

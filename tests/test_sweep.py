"""Evaluation sweeps (assistant/evaluation/sweep.py): the --grid parser, a 2x2 sweep on the bundled corpus
with stores built once per chunk size, and its page in a real browser."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from assistant.evaluation.sweep import parse_grid, run_sweep, write_sweep

from .conftest import QUESTIONS

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_parse_grid_keeps_names_and_values_in_the_order_given():
    grid = parse_grid(["top_k=5,10,20", "retrieval_mode = hybrid, dense", "chunk-size=64", "strict=true,false"])
    assert grid == {"top_k": ["5", "10", "20"], "retrieval_mode": ["hybrid", "dense"], "chunk_size": ["64"],
                    "strict": ["true", "false"]}
    assert list(grid) == ["top_k", "retrieval_mode", "chunk_size", "strict"]
    assert parse_grid([]) == {}


@pytest.mark.parametrize(("specs", "named"), [
    (["top_k"], "--grid top_k:"),
    (["=5,10"], "--grid =5,10:"),
    (["topk=5,10"], "did you mean top_k?"),
    (["no_such_setting=1"], "--grid no_such_setting=1:"),
    (["top_k=5", "top_k=10"], "--grid top_k=10: top_k is already given"),
    (["top_k="], "--grid top_k=:"),
    (["top_k=5,,10"], "--grid top_k=5,,10:"),
    (["top_k=5,5"], "--grid top_k=5,5: 5 given twice"),
    (["top_k=5,0"], "--grid top_k=0: Input should be greater than or equal to 1"),
    (["retrieval_mode=hybrid,fuzzy"], "--grid retrieval_mode=fuzzy:"),
    (["chunk_size=sixty"], "--grid chunk_size=sixty:"),
    (["store=/tmp/a,/tmp/b"], "--grid store=/tmp/a,/tmp/b: store cannot be swept"),
])
def test_parse_grid_names_the_bad_spec(specs, named):
    with pytest.raises(ValueError) as caught:
        parse_grid(specs)
    assert named in str(caught.value)


def test_run_sweep_refuses_a_bad_grid_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="--grid retrieval_mode=fuzzy"):
        run_sweep(QUESTIONS, ["top_k=3", "retrieval_mode=fuzzy"], tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="no --grid"):
        run_sweep(QUESTIONS, [], tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="--grid combination answerer=openai: answerer 'openai' needs"):
        run_sweep(QUESTIONS, ["answerer=openai"], tmp_path / "out", progress=False)
    assert not list((tmp_path / "out").glob("*"))


def test_the_page_escapes_what_it_shows(tmp_path):
    row = {"index": 1, "label": "llm_model=<b>x</b>", "settings": {"llm_model": "<b>x</b>"}, "run": "01-x",
           "store": "/s/corpus-1-2", "store_status": "built", "questions": 1, "metrics": {"answer.contains": 0.5},
           "intervals": {"answer.contains": [0.0, 1.0]}, "latency_ms": {"p50": 12.0, "p95": 20.0}}
    sweep = {"set": "<script>set</script>", "corpus": [], "questions": 1, "resamples": 10,
             "grid": {"llm_model": ["<b>x</b>"]}, "headline": ["answer.contains"], "combinations": [row]}
    page = write_sweep(tmp_path, sweep).read_text()
    assert "<script>" not in page and "<b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "0.500 [0.000, 1.000]" in page and '<img class=\'plot\' src="sweep.png"' in page
    assert (tmp_path / "sweep.png").stat().st_size > 0


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 2x2 sweep as an evaluator runs it: the set declares its corpus; stores go to a data folder of its own."""
    root = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(root / "data"))
        page = run_sweep(QUESTIONS, {"chunk_size": ["64", "128"], "top_k": ["3", "10"]}, root / "out", limit=4,
                         progress=False, resamples=200)
    return page


def test_a_sweep_builds_one_store_per_chunk_size_and_runs_every_combination(sweep):
    out = sweep.parent
    assert sweep == out / "sweep.html"
    data = json.loads((out / "sweep.json").read_text())
    rows = data["combinations"]
    assert [r["settings"] for r in rows] == [{"chunk_size": 64, "top_k": 3}, {"chunk_size": 64, "top_k": 10},
                                             {"chunk_size": 128, "top_k": 3}, {"chunk_size": 128, "top_k": 10}]
    assert [r["store_status"] for r in rows] == ["built", "reused", "built", "reused"]
    stores = Counter(r["store"] for r in rows)
    assert len(stores) == 2 and set(stores.values()) == {2}
    assert rows[0]["store"] == rows[1]["store"] != rows[2]["store"] == rows[3]["store"]
    assert all("/data/report-assistant/eval-stores/corpus-" in r["store"] for r in rows)
    for r in rows:
        summary = json.loads((out / r["run"] / "summary.json").read_text())
        assert summary["counts"]["questions"] == 4 and summary["run"]["top_k"] == r["settings"]["top_k"]
        assert summary["run"]["settings"]["chunk_size"] == r["settings"]["chunk_size"]
        assert summary["run"]["store"] == r["store"] and summary["statistics"]["resamples"] == 200
        assert (out / r["run"] / "report.html").is_file()
        assert r["latency_ms"]["p95"] >= r["latency_ms"]["p50"] > 0
        low, high = r["intervals"]["retrieval.hit@10"]
        assert low <= r["metrics"]["retrieval.hit@10"] <= high
    assert rows[0]["run"] == "01-chunk_size=64,top_k=3"


def test_a_sweep_writes_one_table_and_one_plot(sweep):
    out = sweep.parent
    table = [line for line in (out / "sweep.md").read_text().splitlines() if line.startswith("| ")]
    assert table[0].startswith("| # | chunk_size | top_k | store | retrieval.hit@10 |")
    assert len(table) == 1 + 4
    assert all(" [0." in line or " [1." in line for line in table[1:])
    assert "(01-chunk_size=64,top_k=3/report.html)" in table[1]
    assert (out / "sweep.png").stat().st_size > 5_000


def test_the_sweep_page_shows_its_plot_and_table_in_a_browser(sweep):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(sweep.as_uri())
            page.wait_for_load_state("load")
            width = page.evaluate("document.querySelector('img[alt=\"answer quality against latency\"]').naturalWidth")
            assert width > 100
            assert page.locator("table tbody tr").count() == 4
            links = page.eval_on_selector_all("tbody a", "links => links.map(a => a.href)")
            assert len(links) == 4 and links[0].endswith("/01-chunk_size=64,top_k=3/report.html")
        finally:
            browser.close()


def test_the_cli_refuses_a_bad_grid_by_name():
    from typer.testing import CliRunner

    from assistant.cli import app

    result = CliRunner().invoke(app, ["eval", "sweep", str(QUESTIONS), "--grid", "top_k=0"])
    assert result.exit_code == 2 and "--grid top_k=0" in result.output

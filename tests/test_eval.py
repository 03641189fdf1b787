"""The evaluation harness end to end: run a set through the CLI, report, compare."""

import json

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.evaluation.run import load_set

from .conftest import QUESTIONS

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs as a new user makes them: no --store, no --ingest; the set declares its corpus."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(root / "data"))
        for name, extra in (("full", []), ("weak", ["--top-k", "1"])):
            result = runner.invoke(app, ["eval", "run", str(QUESTIONS), "--out", str(root / name),
                                         "--limit", "16", "--quiet", *extra])
            assert result.exit_code == 0, result.output
    return root


def test_a_set_runs_against_the_corpus_it_declares_in_a_store_of_its_own(runs):
    summary = json.loads((runs / "full" / "summary.json").read_text())
    assert summary["run"]["corpus"] == [str(QUESTIONS.parent / "../../corpus")]
    assert summary["run"]["store"].startswith(str(runs / "data" / "report-assistant" / "eval-stores" / "corpus-"))
    assert summary["run"]["documents"] == 20
    weak = json.loads((runs / "weak" / "summary.json").read_text())
    assert weak["run"]["store"] == summary["run"]["store"]
    assert weak["run"]["corpus_hash"] == summary["run"]["corpus_hash"]


def test_run_writes_per_question_summary_and_report(runs):
    full = runs / "full"
    records = [json.loads(line) for line in (full / "per_question.jsonl").read_text().splitlines()]
    assert len(records) == 16
    assert {"id", "question", "answer", "citations", "retrieved", "timings_ms", "scores"} <= set(records[0])
    summary = json.loads((full / "summary.json").read_text())
    assert summary["counts"]["questions"] == 16
    for key in ("hit@1", "hit@10", "recall@5", "mrr@10", "ndcg@10", "budget_recall@2000", "budget_recall@4000"):
        assert 0.0 <= summary["retrieval"][key] <= 1.0
    assert summary["citations"]["quote_exact"] == 1.0
    assert summary["run"]["model_hash"] and summary["run"]["corpus_hash"] and summary["run"]["code_version"]
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["p50"] > 0
    for name in ("report.md", "report.html", "recall_at_k.png", "scores.png", "by_type.png", "latency.png"):
        assert (full / name).stat().st_size > 0
    html = (full / "report.html").read_text()
    assert "<img src='recall_at_k.png'" in html and "Worst questions" in html


def test_compare_fails_on_a_weaker_run(runs):
    worse = runner.invoke(app, ["eval", "compare", str(runs / "full"), str(runs / "weak"), "--fail-on-drop", "2"])
    assert worse.exit_code == 1, worse.output
    assert "retrieval.hit@10 *" in worse.output and "DROP" in worse.output and "FAILED" in worse.output
    same = runner.invoke(app, ["eval", "compare", str(runs / "full"), str(runs / "full"), "--fail-on-drop", "2"])
    assert same.exit_code == 0 and "0 questions changed outcome" in same.output


def test_bad_inputs_are_usage_errors(tmp_path, assistant):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q"}\n{"id": 1}\n')
    result = runner.invoke(app, ["eval", "run", str(bad), "--store", str(assistant.settings.store)])
    assert result.exit_code == 2 and f"{bad}:2" in result.output
    undeclared = tmp_path / "undeclared.jsonl"
    undeclared.write_text(QUESTIONS.read_text())
    empty = runner.invoke(app, ["eval", "run", str(undeclared), "--store", str(tmp_path / "empty")])
    assert empty.exit_code == 2 and "--ingest" in empty.output and "undeclared.toml" in empty.output
    (tmp_path / "broken.jsonl").write_text(QUESTIONS.read_text())
    (tmp_path / "broken.toml").write_text('corpus = "nowhere"\n')
    broken = runner.invoke(app, ["eval", "run", str(tmp_path / "broken.jsonl")])
    assert broken.exit_code == 2 and "broken.toml" in broken.output and "nowhere" in broken.output
    assert runner.invoke(app, ["eval", "compare", str(tmp_path), str(tmp_path)]).exit_code == 2


def test_the_set_loads():
    cases = load_set(QUESTIONS)
    assert len({c.id for c in cases}) == len(cases)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_report_shows_its_plots_in_a_browser(runs):
    import shutil

    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    from .conftest import ROOT

    shots = ROOT / "test-output"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((runs / "full" / "report.html").as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        assert len(widths) == 4 and all(w > 100 for w in widths), widths
        assert page.locator("h2", has_text="Headline").count() == 1
        page.screenshot(path=str(shots / "eval-report.png"), full_page=True)
        browser.close()
    assert (shots / "eval-report.png").stat().st_size > 10_000


@pytest.mark.parametrize("name", ["corpus_questions.jsonl", "corpus.jsonl"])
def test_every_evidence_passage_is_verbatim_in_the_corpus(assistant, name):
    from .conftest import ROOT

    path = ROOT / "evals" / "sets" / name
    if not path.exists():
        pytest.skip(f"{path} not written yet")
    cases = load_set(path)
    assert len({c.id for c in cases}) == len(cases)
    for case in cases:
        for item in case.evidence:
            text = " ".join(assistant.document(item["doc_id"]).text.split())
            assert " ".join(item["text"].split()) in text, f"{case.id}: evidence not in {item['doc_id']}"
        if case.answerable:
            joined = " ".join(e["text"] for e in case.evidence).lower()
            assert any(r.lower() in joined for r in case.references), f"{case.id}: no reference in its evidence"


def test_import_and_export_through_the_cli(runs, tmp_path):
    from .conftest import shared_file

    out = runs / "ragas.jsonl"
    result = runner.invoke(app, ["eval", "export", "ragas", str(runs / "full"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 16 and set(rows[0]) == {"question", "contexts", "answer", "ground_truth"}
    assert rows[0]["contexts"] and runner.invoke(app, ["eval", "export", "csv", str(runs / "full"), "--out",
                                                       str(out)]).exit_code == 2
    assert runner.invoke(app, ["eval", "import", "nope", str(out), "--out", str(tmp_path / "x")]).exit_code == 2
    src = shared_file("data/dragonball_finance_en/qa.jsonl")
    result = runner.invoke(app, ["eval", "import", "dragonball", str(src), "--out", str(tmp_path / "db.jsonl")])
    assert result.exit_code == 0 and "350 questions (52 unanswerable)" in result.output
    assert len(load_set(tmp_path / "db.jsonl")) == 350

"""assistant/evaluation/run.py and report.py: The evaluation harness end to end: run a set through the CLI, report,
compare."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.evaluation.report import compare_runs, write_report
from assistant.evaluation.run import HEADLINE, EvalCase, headline, load_set, score_case, summarise

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
    assert 0.0 <= summary["citations"]["cites_evidence"] <= 1.0
    assert all(0.0 <= r["scores"]["confidence"] <= 1.0 and r["scores"]["right"] in (True, False) for r in records)
    assert summary["counts"]["calibrated"] > 0 and 0.0 <= summary["confidence"]["ece"] <= 1.0
    assert summary["run"]["model_hash"] and summary["run"]["corpus_hash"] and summary["run"]["code_version"]
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["p50"] > 0
    assert set(summary["intervals"]) == set(HEADLINE) and summary["statistics"]["resamples"] == 10_000
    for key, bounds in summary["intervals"].items():
        value = headline(summary, key)
        assert bounds is None or bounds[0] <= value <= bounds[1], key
    report = (full / "report.md").read_text()
    hit = summary["intervals"]["retrieval.hit@10"]
    assert f"| retrieval.hit@10 | {summary['retrieval']['hit@10']:.3f} [{hit[0]:.3f}, {hit[1]:.3f}] |" in report
    for name in ("report.md", "report.html", "recall_at_k.png", "scores.png", "by_type.png", "latency.png",
                 "reliability.png"):
        assert (full / name).stat().st_size > 0
    html = (full / "report.html").read_text()
    assert "<img src='recall_at_k.png'" in html and "<img src='reliability.png'" in html and "Worst questions" in html


def test_compare_fails_on_a_weaker_run(runs, tmp_path):
    worse = runner.invoke(app, ["eval", "compare", str(runs / "full"), str(runs / "weak"), "--fail-on-drop", "2",
                                "--out", str(tmp_path / "cmp")])
    assert worse.exit_code == 1, worse.output
    assert "retrieval.hit@10 *" in worse.output and "DROP" in worse.output and "FAILED" in worse.output
    # --top-k 1 keeps one passage: the recall metrics drop, and significantly (their intervals exclude 0).
    for metric in ("retrieval.recall@5 *", "retrieval.budget_recall@2000 *"):
        row = next(line for line in worse.output.splitlines() if line.startswith(f"| {metric} |"))
        assert row.rstrip().endswith("| DROP |"), row
        assert "(mcnemar)" in row or "(permutation)" in row
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "<img class='forest' src='forest.png'" in page and (tmp_path / "cmp" / "forest.png").stat().st_size
    assert "Questions whose outcome changed" in page and page.count("<div class='sides'>") >= 1
    same = runner.invoke(app, ["eval", "compare", str(runs / "full"), str(runs / "full"), "--fail-on-drop", "2"])
    assert same.exit_code == 0 and "0 questions changed outcome" in same.output
    assert "significant" not in same.output.split("B - A is on")[0] and "DROP" not in same.output


def test_a_small_drop_within_the_noise_does_not_fail(runs, tmp_path):
    """B differs from A by a single question: a change of 1/16 is no evidence of a regression."""
    one = tmp_path / "one"
    shutil.copytree(runs / "full", one)
    records = [json.loads(line) for line in (one / "per_question.jsonl").read_text().splitlines()]
    hit = next(r for r in records if r["scores"]["retrieval"].get("hit@10") == 1.0)
    hit["scores"]["retrieval"]["hit@10"] = 0.0
    (one / "per_question.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = json.loads((one / "summary.json").read_text())
    summary["retrieval"] = summarise(records, resamples=0)["retrieval"]
    (one / "summary.json").write_text(json.dumps(summary))
    result = runner.invoke(app, ["eval", "compare", str(runs / "full"), str(one), "--fail-on-drop", "2"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| retrieval.hit@10 * |"))
    assert "-0.062" in row and "DROP" not in row and "significant" not in row


PASSAGE = {"rank": 1, "doc_id": "a", "score": 0.8, "text": "Satellite images showed 73 freight cars."}


def handmade_record(case: EvalCase, answer: str, confidence: float, quote: str = PASSAGE["text"]) -> dict:
    """A record as run_eval writes it, for an answer made by hand (no model, no store)."""
    abstained = not answer
    citations = [] if abstained else [{"doc_id": "a", "quote": quote, "start": 0, "end": len(quote), "score": 0.8}]
    asked = {"question": case.question, "answer": answer, "abstained": abstained, "citations": citations,
             "retrieved": [PASSAGE], "timings_ms": {"retrieve": 1.0, "answer": 1.0, "total": 2.0},
             "confidence": confidence}
    return {**case.model_dump(), **asked, "scores": score_case(case, asked, {"a": PASSAGE["text"]})}


def handmade_run(folder: Path) -> list[dict]:
    cars = EvalCase(id="cars", question="How many cars?", reference_answer="73",
                    evidence=[{"doc_id": "a", "text": "showed 73 freight cars"}])
    nothing = EvalCase(id="none", question="Who won?", answerable=False)
    records = [
        handmade_record(cars, "Satellite images showed 73 freight cars.", 0.9),  # right
        handmade_record(cars.model_copy(update={"id": "cars2"}), "Trains ran.", 0.3, quote="Trains ran."),  # wrong
        handmade_record(nothing, "", 0.2),  # abstained rightly: the answer held back was wrong
        handmade_record(nothing.model_copy(update={"id": "none2"}), "Satellite images showed 73 freight cars.",
                        0.6),  # answered an unanswerable question: wrong
        handmade_record(cars.model_copy(update={"id": "cars3"}), "", 0.4),  # abstained wrongly: left out
    ]
    summary = summarise(records)
    summary["run"] = {"set": "handmade", "documents": 1, "top_k": 5, "answerer": "extractive", "model": "none",
                      "code_version": "test", "wall_seconds": 0.1}
    folder.mkdir()
    (folder / "per_question.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "summary.json").write_text(json.dumps(summary))
    return records


def test_confidence_figures_and_the_reliability_plot_of_a_handmade_run(tmp_path):
    records = handmade_run(tmp_path / "new")
    assert [r["scores"]["right"] for r in records] == [True, False, True, False, False]
    assert [r["scores"]["confidence"] for r in records] == [0.9, 0.3, 0.2, 0.6, 0.4]
    summary = json.loads((tmp_path / "new" / "summary.json").read_text())
    # calibrated: (0.9, right), (0.3, wrong), (0.2, wrong), (0.6, wrong); the wrong abstention is left out
    assert summary["counts"]["calibrated"] == 4 and summary["confidence"]["auroc"] == 1.0
    assert summary["confidence"]["ece"] == pytest.approx((0.1 + 0.3 + 0.2 + 0.6) / 4)
    assert summary["citations"]["cites_evidence"] == 0.5  # of the two answers to `cars`
    md, html = write_report(tmp_path / "new")
    assert "![reliability.png](reliability.png)" in md.read_text() and "| confidence.auroc | 1.000 [" in md.read_text()
    assert "<img src='reliability.png'" in html.read_text() and (tmp_path / "new" / "reliability.png").stat().st_size


def test_reports_and_comparisons_of_runs_older_than_confidence(tmp_path):
    """A run made before confidence and cites_evidence existed still reports, and compares with a new one."""
    handmade_run(tmp_path / "new")
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "new", old)
    summary = json.loads((old / "summary.json").read_text())
    for key in ("confidence", "reliability"):
        del summary[key]
    del summary["citations"]["cites_evidence"], summary["counts"]["calibrated"]
    (old / "summary.json").write_text(json.dumps(summary))
    md, _ = write_report(old)
    assert "reliability.png" not in md.read_text() and "| confidence.auroc | n/a |" in md.read_text()
    table, failed = compare_runs(old, tmp_path / "new", fail_on_drop=2)
    assert not failed and "| confidence.auroc * | n/a | 1.000 |" in table
    assert "| citations.cites_evidence * | n/a | 0.500 |" in table


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


def test_repeated_runs_give_identical_answers_and_the_spread_of_latency(runs, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(runs / "data"))
        result = runner.invoke(app, ["eval", "run", str(QUESTIONS), "--out", str(tmp_path / "r"), "--limit", "4",
                                     "--quiet", "--repeat", "3", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    repeat = json.loads((tmp_path / "r" / "summary.json").read_text())["repeat"]
    assert repeat["passes"] == 3 and len(repeat["latency_p50_ms"]) == 3 and repeat["latency_p50_spread_ms"] >= 0
    assert repeat["identical_answers"] and repeat["differing"] == []
    assert "3 passes: latency p50" in result.output and "answers identical in every pass" in result.output
    # and a separate run of the same commit on the same set answers the same
    first = [json.loads(line) for line in (runs / "full" / "per_question.jsonl").read_text().splitlines()][:4]
    again = [json.loads(line) for line in (tmp_path / "r" / "per_question.jsonl").read_text().splitlines()]
    assert [(r["answer"], [(c["doc_id"], c["start"]) for c in r["citations"]]) for r in first] == [
        (r["answer"], [(c["doc_id"], c["start"]) for c in r["citations"]]) for r in again]


def test_the_set_loads():
    cases = load_set(QUESTIONS)
    assert len({c.id for c in cases}) == len(cases)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_report_shows_its_plots_in_a_browser(runs):
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
        assert len(widths) == 5 and all(w > 100 for w in widths), widths
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

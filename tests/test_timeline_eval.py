"""assistant/evaluation/timelines.py and `assistant eval timeline` (issue 27): a timeline set's topics scored for
event recall, date accuracy, precision and exact quotes, per split, with intervals over topics; the shipped
set of evals/sets/ read whole; a bad set refused naming its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.evaluation.timelines import (
    TimelineCase,
    date_right,
    declared_corpora,
    figure,
    load_timeline_set,
    score_topic,
    summarize,
)

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "evals" / "sets" / "timelines.jsonl"
CASE = TimelineCase.model_validate({
    "id": "t", "topic": "the trip", "corpus": "corpus", "split": "held",
    "events": [{"what": "summit", "dates": ["2023-09-13"], "precision": "day", "key": True, "match": ["met Putin"]},
               {"what": "departure", "dates": ["2023-09-10"], "precision": "day", "key": True,
                "match": ["left Pyongyang"]},
               {"what": "tour", "dates": ["2023-09"], "precision": "month", "match": ["toured"]}],
    "background": [{"what": "accession", "dates": ["2011"], "precision": "year", "match": ["inherited"]}],
    "expected": [{"what": "more details", "match": ["expect more details"]}]})


def row(date: str, text: str, precision: str = "day", quote: str | None = None) -> dict:
    return {"date": date, "precision": precision, "text": text,
            "citations": [{"doc_id": "d", "start": 0, "end": len(quote or text), "quote": quote or text}]}


def test_a_topic_is_scored_row_by_row():
    timeline = {"events": [row("2023-09-13", "Kim met Putin on Wednesday."),
                           row("2023-09-11", "The train left Pyongyang on Sunday."),  # the wrong day
                           row("2023-09-15", "Kim toured a plant on Friday."),  # a day inside the month: right
                           row("2011", "Kim inherited the leadership in 2011.", "year"),
                           row("2023-09-14", "Analysts expect more details soon.", quote="not the text")],
                "background": [], "expected": [], "timings_ms": {"total": 5.0}}
    texts = {"d": "Kim met Putin on Wednesday. The train left Pyongyang on Sunday. Kim toured a plant on Friday."}
    record = score_topic(CASE, timeline, texts)
    c = record["counts"]
    assert (c["key_found"], c["key_events"]) == (1, 2)
    assert (c["dated_right"], c["topical_rows"]) == (2, 3)  # dates are judged on the rows telling an event
    assert (c["topical_rows"], c["rows"]) == (3, 5)
    assert c["background_as_events"] == 1 and c["expected_as_events"] == 1
    assert c["quotes_exact"] < c["quotes"] == 5
    assert record["missed"] == ["departure"]
    summary = summarize([record, record], resamples=200)
    assert summary["event_recall"] == 0.5 and summary["precision"] == 0.6
    assert summary["event_recall_interval"] == (0.5, 0.5)  # two identical topics: no spread
    # Without resampling there are no intervals, and the report says the figures alone.
    bare = summarize([record], resamples=0)
    assert bare["precision_interval"] is None and figure(bare, "precision") == "0.600 (3/5)"


def test_a_date_counts_only_inside_the_events_period_and_no_coarser():
    summit = CASE.events[0]
    assert date_right({"date": "2023-09-13", "precision": "day"}, summit)
    assert not date_right({"date": "2023-09", "precision": "month"}, summit)  # right month, too coarse
    assert date_right({"date": "2023-09-11", "precision": "week"}, CASE.events[2])


def test_the_shipped_set_reads_whole_with_both_splits_and_its_corpora_declared():
    cases = load_timeline_set(SET)
    assert {c.split for c in cases} == {"fit", "held"} and {c.corpus for c in cases} == {"corpus", "realtimeqa"}
    assert all(any(e.key for e in c.events) for c in cases)
    corpora = declared_corpora(SET)
    assert corpora["corpus"].resolve() == (ROOT / "corpus").resolve()
    assert len({c.id for c in cases}) == len(cases)


def test_a_bad_set_is_refused_naming_its_line(tmp_path):
    bad = tmp_path / "t.jsonl"
    good = CASE.model_dump_json()
    bad.write_text(good + "\n" + good.replace('"split":"held"', '"split":"later"') + "\n")
    with pytest.raises(ValueError, match=r"t.jsonl:2: not a timeline topic"):
        load_timeline_set(bad)
    bad.write_text(good.replace('"2023-09-13"', '"13 September"') + "\n")
    with pytest.raises(ValueError, match=r"t.jsonl:1"):
        load_timeline_set(bad)


def test_cli_scores_the_corpus_topics_per_split(assistant, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["eval", "timeline", str(SET), "--corpus", "corpus", "--store",
                                      str(assistant.settings.store), "--out", str(out), "--resamples", "500"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["splits"]) == {"fit", "held", "all"}
    for figures in summary["splits"].values():
        assert figures["quotes_exact"] == 1.0
        for metric in ("event_recall", "date_accuracy", "precision"):
            low, high = figures[f"{metric}_interval"]
            assert 0 <= low <= figures[metric] <= high <= 1
    topics = [json.loads(line) for line in (out / "per_topic.jsonl").read_text().splitlines()]
    assert {t["corpus"] for t in topics} == {"corpus"} and len(topics) == summary["splits"]["all"]["topics"]
    assert "event_recall" in result.output and (out / "report.md").read_text().startswith("# Timeline evaluation")
    refused = CliRunner().invoke(app, ["eval", "timeline", str(SET), "--store", str(assistant.settings.store)])
    assert refused.exit_code == 2 and "--corpus" in refused.output

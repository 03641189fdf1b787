"""assistant/read/topicality.py (issue 27): the timeline's trained model of which dated sentences tell an event
of the topic. The shipped model loads and reads exactly the features the timeline gives; its threshold decides
which event rows are listed (never background or expected rows); a broken model file is refused by name; and
its training rows are topics of their own, none of them a topic the timeline set measures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.read.topicality import MODEL, Topicality

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "evals" / "sets" / "timeline_train.jsonl"
SET = ROOT / "evals" / "sets" / "timelines.jsonl"
TRIP = "Kim Jong Un's trip to Russia"


def _always(threshold: float) -> Topicality:
    """A model whose probability is 0.5 for every sentence: it keeps all below the threshold, none above."""
    shipped = Topicality.load()
    return Topicality({f: 0.0 for f in shipped.weights}, 0.0, shipped.mean, shipped.scale, threshold)


def test_the_shipped_model_reads_the_features_a_timeline_gives(assistant):
    from assistant.read.timeline import Margins, candidates, describe

    model = Topicality.load()
    assert 0.0 < model.threshold < 1.0 and set(model.weights) == set(model.mean) == set(model.scale)
    ranked, found = assistant.timeline_sentences(TRIP)
    events = candidates(ranked, found.infos, Margins())
    describe(events, ranked, found.texts, found.infos, assistant.embed, TRIP)
    assert events and all(set(e.features) == set(model.weights) for e in events)
    assert all(0.0 <= model.probability(e.features) <= 1.0 for e in events)
    # The text around a sentence holds it: its share of the topic's words is at least the sentence's own.
    assert all(e.features["window_share"] >= e.features["sentence_share"] for e in events)
    assert any(e.features["window_share"] > e.features["sentence_share"] for e in events)


def test_the_threshold_decides_which_events_are_listed_never_background_or_expected(assistant, monkeypatch):
    listed = assistant.timeline(TRIP)
    monkeypatch.setitem(assistant.__dict__, "topicality", _always(0.4))
    everything = assistant.timeline(TRIP)
    monkeypatch.setitem(assistant.__dict__, "topicality", _always(0.6))
    nothing = assistant.timeline(TRIP)
    assert len(everything.events) >= len(listed.events) > 0
    assert nothing.events == []
    assert [e.text for e in nothing.background] == [e.text for e in everything.background] != []


def test_a_broken_model_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "topicality.json"
    bad.write_text(json.dumps({"weights": {"reader": 1.0}, "bias": 0.0}), encoding="utf-8")
    with pytest.raises(ValueError, match=str(bad)):
        Topicality.load(bad)
    assert MODEL.is_file()


def test_the_training_rows_are_labelled_topics_of_their_own():
    rows = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) > 500
    for r in rows:
        assert {"topic", "doc_id", "sentence", "date", "event", "date_right"} <= set(r), r
        assert r["date_right"] is None if not r["event"] else isinstance(r["date_right"], bool), r
    measured = {json.loads(line)["topic"].lower() for line in SET.read_text(encoding="utf-8").splitlines() if line}
    trained = {r["topic"].lower() for r in rows}
    assert len(trained) >= 40 and not trained & measured

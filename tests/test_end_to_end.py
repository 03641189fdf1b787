"""assistant/core.py (the Assistant): End to end with the real model and real Chroma over the bundled corpus."""

import re

import pytest

from assistant.read.answer import ABSTAIN

from .conftest import corpus_questions

# Answerable questions the extractive answerer gets wrong today, each for a reason written down; strict,
# so that a fix makes the test fail until the question is taken off this list. (Nothing was trained or fit
# on these questions: the reader and its calibration are fit on SQuAD and MultiHop-RAG, docs/reader.md.)
KNOWN_MISSES = {
    "cq-02": "the reader ranks the study's release sentence above 'The study was written by ...'",
    "cq-04": "the 'rocket launch site in the Russian Far East' sentence outranks the ones naming Vostochny",
    "cq-06": "cites 'Kim Jong-un's long rail journey ... was less a diplomatic milestone than a sales trip', not the "
             "armoured-train sentence",
    "cq-07": "'which website published the study' is answered with the satellite-image sentences, not the one "
             "naming Beyond Parallel",
    "cq-10": "the sentence on the covers hiding the cargo is read at a confidence below min_confidence: it abstains",
    "cq-20": "'North Korea has failed twice this year ...' is read at a confidence below min_confidence: it abstains",
    "cq-24": "'Containers are harder to read from orbit ... because their contents are hidden' is read at a "
             "confidence below min_confidence: it abstains",
    "cq-25": "cites 'any arms exchange would breach UN Security Council resolutions', not the one naming 1718",
}
ANSWERABLE = [pytest.param(q, id=q["id"], marks=pytest.mark.xfail(reason=KNOWN_MISSES[q["id"]], strict=True))
              if q["id"] in KNOWN_MISSES else pytest.param(q, id=q["id"])
              for q in corpus_questions() if q["answerable"]]
# Unanswerable questions the answerer answers today (its confidence is above min_confidence): near-topic
# questions whose best sentence is about the thing asked but does not give it. Strict, like KNOWN_MISSES.
KNOWN_ANSWERED = {
    "cq-39": "asks for 2019's count; the best sentence gives the study's (confidence 0.49): the missing year "
             "lowers a sentence's rank, not the answer's confidence",
    "cq-40": "asks for the driver's name; 'Kim made the journey aboard his armoured train ...' scores as an answer "
             "(confidence 0.49)",
    "cq-42": "asks which Russian official greeted Kim at Khasan; the sentence on his crossing at Khasan scores as an "
             "answer (confidence 0.38, low confidence)",
}
UNANSWERABLE = [pytest.param(q, id=q["id"], marks=pytest.mark.xfail(reason=KNOWN_ANSWERED[q["id"]], strict=True))
                if q["id"] in KNOWN_ANSWERED else pytest.param(q, id=q["id"])
                for q in corpus_questions() if not q["answerable"]]


def norm(text):
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def test_the_question_set_is_big_enough():
    assert len(ANSWERABLE) - len(KNOWN_MISSES) >= 15 and len(UNANSWERABLE) - len(KNOWN_ANSWERED) >= 6


def assert_exact(assistant, answer):
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", answer.answer)]
    assert sorted(set(markers)) == [c.marker for c in answer.citations], "every marker has a citation and back"
    # A later report named by an update note ("A later report (...) gives 73 [4].") is cited, not quoted.
    noted = {u.later.marker for u in answer.updates} - {m for s in answer.sentences for m in s.markers}
    for c in answer.citations:
        doc = assistant.document(c.doc_id)
        assert doc.text[c.start:c.end] == c.quote, "a quote is exactly the document text at its offsets"
        assert " ".join(c.quote.split()) in answer.answer or c.marker in noted


@pytest.mark.parametrize("q", ANSWERABLE)
def test_answers_are_cited_and_the_quote_holds_the_answer(assistant, q):
    answer = assistant.ask(q["question"])
    assert not answer.abstained, f"abstained on {q['question']!r}"
    assert_exact(assistant, answer)
    answers = [q["reference_answer"], *q.get("answer_aliases", [])]
    quotes = [norm(c.quote) for c in answer.citations]
    assert any(norm(a) in quote for a in answers for quote in quotes), (
        f"{q['question']!r}: no cited quote holds {answers}; got {[c.quote for c in answer.citations]}")


@pytest.mark.parametrize("q", UNANSWERABLE)
def test_abstains_when_the_reports_do_not_say(assistant, q):
    answer = assistant.ask(q["question"])
    assert answer.abstained, f"answered {q['question']!r} with {answer.answer!r}"
    assert answer.answer == ABSTAIN and answer.citations == [] and answer.retrieved


def test_freight_cars_answer_carries_outlet_and_date(assistant):
    answer = assistant.ask("How many freight cars did satellite images show at Tumangang station?")
    first = answer.citations[0]
    assert "73" in first.quote and first.source and first.date
    assert answer.timings_ms.total >= answer.timings_ms.retrieve > 0
    assert [p.rank for p in answer.retrieved] == list(range(1, len(answer.retrieved) + 1))


def test_citations_carry_document_metadata(assistant):
    answer = assistant.ask("Where did Kim Jong-un and Vladimir Putin hold their summit?")
    assert answer.citations
    for c in answer.citations:
        doc = assistant.document(c.doc_id)
        assert (c.title, c.source, c.date, c.url, c.path) == (doc.title, doc.source, doc.date, doc.url, doc.path)


@pytest.mark.xfail(strict=True, reason="the passages of 'How long ... last? How did he travel?' are about the "
                   "trip's length; 'has rarely travelled abroad' outranks the train sentences")
def test_follow_up_question_uses_the_history(assistant):
    history = [{"role": "user", "content": "How long did Kim Jong-un's trip to Russia last?"},
               {"role": "assistant", "content": "Seven days."}]
    answer = assistant.ask("How did he travel?", history=history)
    assert not answer.abstained
    assert "train" in " ".join(c.quote for c in answer.citations).lower()


def test_empty_question_is_refused(assistant):
    with pytest.raises(ValueError, match="empty"):
        assistant.ask("   ")


def test_odd_questions_do_not_crash(assistant):
    assert assistant.ask("?!?...").abstained
    long = assistant.ask("freight cars at Tumangang " * 2000)
    assert long.retrieved


def test_documents_listing(assistant):
    docs = assistant.documents()
    assert 15 <= len(docs) <= 25
    assert len({d.doc_id for d in docs}) == len(docs)
    assert all(d.chunks > 0 and d.title and len(d.hash) == 64 for d in docs)
    assert sum(d.chunks for d in docs) == assistant.store.chunk_count()


def test_reingest_changes_nothing(assistant):
    from .conftest import CORPUS

    before = assistant.store.chunk_count()
    report = assistant.ingest([CORPUS])
    assert report.added == report.updated == report.failed == report.chunks == 0
    assert report.unchanged == len(assistant.documents())
    assert assistant.store.chunk_count() == before


def test_changed_file_replaces_its_chunks(fresh, tmp_path):
    path = tmp_path / "report.md"
    path.write_text("---\ntitle: Rail report\n---\n" + "The depot held 12 tank wagons on Monday. " * 60)
    first = fresh.ingest([path])
    doc_id = first.documents[0].doc_id
    assert first.added == 1 and fresh.store.chunk_count() == first.chunks
    path.write_text("---\ntitle: Rail report\n---\nThe depot held 40 grain hoppers on Tuesday.")
    second = fresh.ingest([path])
    assert second.updated == 1 and second.documents[0].doc_id == doc_id, "a changed report keeps its id"
    assert fresh.store.chunk_count() == 1, "old chunks are gone, no duplicates"
    assert "grain hoppers" in fresh.document(doc_id).text
    answer = fresh.ask("How many grain hoppers did the depot hold?")
    assert "40" in answer.citations[0].quote


def test_failing_file_among_good_ones(fresh, tmp_path):
    (tmp_path / "good.md").write_text("# Harbour\n\nThe harbour reopened on Friday after the storm passed.")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00junk" + bytes(range(256)))
    (tmp_path / "empty.md").write_text("")
    report = fresh.ingest([tmp_path])
    assert report.added == 1 and report.failed == 2
    errors = {d.path: d.error for d in report.documents if d.status == "failed"}
    assert set(errors) == {str(tmp_path / "bad.txt"), str(tmp_path / "empty.md")}
    assert all(path in error for path, error in errors.items())
    assert len(fresh.documents()) == 1


def test_remove_leaves_no_chunks(fresh, tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.md").write_text(f"# Report {name}\n\nReport {name} says the port handled 5 ships.")
    fresh.ingest([tmp_path])
    doc_id = fresh.documents()[0].doc_id
    assert fresh.remove([doc_id, "no-such-id"]) == [doc_id]
    assert doc_id not in {d.doc_id for d in fresh.documents()}
    assert fresh.store.collection.get(where={"doc_id": doc_id})["ids"] == []
    assert fresh.store.chunk_count() == 1


def test_jsonl_row_removed_from_archive_is_removed(fresh, tmp_path):
    import json

    path = tmp_path / "archive.jsonl"
    rows = [{"doc_id": f"n{i}", "title": f"News {i}", "body": f"Story {i} about the rail link."} for i in range(3)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert fresh.ingest([path]).added == 3
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]))
    report = fresh.ingest([path])
    assert report.unchanged == 2 and report.removed == 1
    assert sorted(d.doc_id for d in fresh.documents()) == ["n0", "n1"]


def test_store_built_with_other_chunking_is_refused(assistant):
    from assistant import Assistant
    from assistant.index.store import StoreMismatch

    other = Assistant(settings=assistant.settings.model_copy(update={"chunk_size": 120}))
    with pytest.raises(StoreMismatch, match="chunk_size"):
        other.store  # noqa: B018


# --- issue 14: wording, summaries, disagreements, confidence ------------------------------------------

PLANTED = [  # the three disagreements corpus/README.md plants: question, values one report gives each
    ("How long did Kim's trip to Russia last?", {"seven days", "six days"}),
    ("How many freight cars were at Tumangang station?", {"73", "about 70"}),
    ("When was the Beyond Parallel study published?", {"5 October", "6 October"}),
]


@pytest.mark.parametrize("question, wanted", PLANTED, ids=["trip-length", "freight-cars", "study-date"])
def test_planted_disagreements_are_stated_with_both_values_cited(assistant, question, wanted):
    answer = assistant.ask(question)
    assert_exact(assistant, answer)
    [differ] = answer.disagreements
    assert {v.value.replace("-day", " days") for v in differ.values} == wanted  # "a seven-day trip": seven days
    quotes = {c.marker: c for c in answer.citations}
    for value in differ.values:
        assert value.markers and all(value.value.lower() in quotes[m].quote.lower() for m in value.markers)
    assert len({quotes[v.markers[0]].doc_id for v in differ.values}) == 2, "two reports, each cited"
    assert "Reports differ" in answer.answer


@pytest.mark.parametrize("question, wanted", [
    ("Who wrote the satellite study?", ["Bermudez"]),
    ("Where did Kim Jong Un and Putin meet?", ["Vostochny", "rocket launch site"]),
    ("Where did Kim and Putin meet?", ["Vostochny", "rocket launch site"]),
    ("tumangang freight car count", ["73", "about 70"]),
    pytest.param("how many wagons did the csis researchers spot at tumangang", ["73", "about 70"],
                 marks=pytest.mark.xfail(strict=True, reason="'the number of wagons is higher than anything seen "
                                         "at the station for at least five years' outranks the counts")),
])
def test_journalists_wordings_get_an_answer(assistant, question, wanted):
    answer = assistant.ask(question)
    assert not answer.abstained, f"abstained on {question!r}"
    assert_exact(assistant, answer)
    assert any(w.lower() in answer.answer.lower() for w in wanted), answer.answer


def test_a_summary_cites_several_reports_in_date_order(assistant):
    answer = assistant.ask("Summarize the rail traffic between North Korea and Russia.")
    assert not answer.abstained
    assert_exact(assistant, answer)
    assert len({c.doc_id for c in answer.citations}) >= 2
    dates = [c.date for c in sorted(answer.citations, key=lambda c: c.marker)]
    assert dates == sorted(dates), "oldest report first"


def test_every_answer_carries_a_confidence_and_abstentions_a_low_one(assistant):
    answered = assistant.ask("How many freight cars did satellite images show at Tumangang station?")
    held_back = assistant.ask("What did Kim and Putin eat at the summit banquet?")
    assert 0 <= held_back.confidence < assistant.answerer.min_confidence <= answered.confidence <= 1
    assert held_back.abstained and not held_back.low_confidence and not held_back.disagreements
    assert answered.low_confidence == (answered.confidence < assistant.answerer.confident_answer)


# --- issue 24: the questions a new user tried -----------------------------------------------------------------


@pytest.mark.parametrize("question, right", [
    ("Who wrote the satellite study?", "Bermudez"),
    ("How many tanks did North Korea send to Russia?", None),  # no report says: abstain
    pytest.param("How did North Korea react to the summit?", None, marks=pytest.mark.xfail(
        strict=True, reason="no report gives North Korea's reaction; South Korea's is answered, marked low "
                            "confidence (0.47) but above min_confidence")),
])
def test_a_new_users_questions_get_the_right_answer_or_an_abstention(assistant, question, right):
    answer = assistant.ask(question)
    if right is None:
        assert answer.abstained, answer.answer
    else:
        assert not answer.abstained and right in answer.citations[0].quote, answer.answer

"""assistant/index/embedder.py and embed_cache.py: The embedding cache: nothing is encoded twice, and cached vectors
are the ones the model gives."""

import sqlite3

import numpy as np

from assistant.index.embed_cache import EmbeddingCache

PARAGRAPHS = [f"Paragraph {i} of the port report. Inspectors counted {i * 7} containers at berth {i} on Monday, "
              f"and officials at the harbour said the figure for berth {i} was the highest this year."
              for i in range(1, 13)]


def _write(path, paragraphs):
    path.write_text("Port report\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def test_a_changed_report_re_embeds_only_its_changed_chunks(fresh, tmp_path):
    report_file = tmp_path / "port.txt"
    _write(report_file, PARAGRAPHS)
    first = fresh.ingest([report_file])
    assert first.chunks > 4 and first.embedded == first.chunks

    _write(report_file, [*PARAGRAPHS[:-1], "Paragraph 12 was rewritten: the harbour closed on Friday after a storm."])
    second = fresh.ingest([report_file])
    assert second.updated == 1
    assert 1 <= second.embedded < second.chunks / 2, (second.embedded, second.chunks)
    answer = fresh.ask("Why did the harbour close on Friday?")
    assert "storm" in " ".join(c.quote for c in answer.citations)


def test_a_report_removed_and_added_again_costs_no_encoding(fresh, tmp_path):
    report_file = tmp_path / "port.txt"
    _write(report_file, PARAGRAPHS)
    first = fresh.ingest([report_file])
    fresh.remove([d.doc_id for d in fresh.documents()])
    again = fresh.ingest([report_file])
    assert again.added == 1 and again.chunks == first.chunks and again.embedded == 0


def test_cached_vectors_are_the_models_vectors(fresh):
    texts = ["Seoul warned Moscow against arms transfers.", "Freight cars at Tumangang station.", PARAGRAPHS[0]]
    encoded = fresh.encoded
    first = fresh.embed(texts)
    assert fresh.encoded == encoded + 3
    second = fresh.embed([*reversed(texts), texts[0]])  # all from the cache, in the order asked
    assert fresh.encoded == encoded + 3
    assert np.allclose(second[:3], first[::-1], atol=1e-6) and np.allclose(second[3], first[0], atol=1e-6)
    direct = np.asarray(fresh.embed_model.get_text_embedding_batch(texts), dtype=np.float32)
    assert np.allclose(first, direct, atol=1e-5)


def test_asking_again_over_the_same_passages_encodes_nothing(assistant):
    question = "How many freight cars did the satellite images show at Tumangang?"
    first = assistant.ask(question)
    encoded = assistant.encoded
    second = assistant.ask(question)
    assert assistant.encoded == encoded
    assert second.answer == first.answer and second.citations == first.citations


def test_another_model_never_gets_these_vectors(fresh, tmp_path):
    fresh.embed(["a sentence about ports"])
    other = EmbeddingCache(fresh.settings.store, "some-other-model:0")
    assert other.get(["a sentence about ports"]) == [None]
    assert fresh.embedding_cache.get(["a sentence about ports"])[0] is not None


def test_a_store_that_cannot_hold_a_cache_still_ingests(fresh, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr("assistant.index.embed_cache.EmbeddingCache.__init__", refuse)
    report_file = tmp_path / "port.txt"
    _write(report_file, PARAGRAPHS[:3])
    report = fresh.ingest([report_file])
    assert fresh.embedding_cache is None
    assert report.added == 1 and report.embedded == report.chunks > 0


def test_sentence_vectors_at_ingest_leave_nothing_to_encode_for_a_first_question(tmp_path, model_parts):
    from assistant import Assistant
    from assistant.settings import load_settings
    from assistant.text import sentence_spans

    a = Assistant(store=tmp_path / "store", settings=load_settings(sentence_vectors_at_ingest=True))
    a.__dict__["embed_model"], a.__dict__["chunker"] = model_parts
    report_file = tmp_path / "port.txt"
    _write(report_file, PARAGRAPHS)
    report = a.ingest([report_file])
    assert a.encoded > report.embedded == report.chunks  # the sentences were encoded too, and counted apart
    answer = a.ask("How many containers did inspectors count at berth 7?")
    text = a.document(answer.retrieved[0].doc_id).text
    sentences = [text[s:e] for p in answer.retrieved for s, e in sentence_spans(text, p.start, p.end)]
    assert sentences and all(v is not None for v in a.embedding_cache.get(sentences))

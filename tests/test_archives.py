"""assistant/ingest/pipeline.py and loaders.py: Whole JSONL news archives from ../shared (slow: thousands of chunks
through the real model)."""

import pytest

from .conftest import shared_file


@pytest.mark.slow
def test_realtimeqa_archive_ingests_as_782_documents(tmp_path, model_parts):
    from assistant import Assistant, Settings

    # 200-piece chunks: the archive's scale is what is tested here, and the default 64-piece chunks
    # would triple the encoder's time (about 27 minutes on two cores) for nothing more.
    fresh = Assistant(settings=Settings(store=tmp_path / "store", chunk_size=200, chunk_overlap=30))
    fresh.__dict__["embed_model"] = model_parts[0]
    path = shared_file("data/realtimeqa/docs.jsonl")
    report = fresh.ingest([path])
    assert (report.added, report.failed) == (782, 0)
    assert len(fresh.documents()) == 782
    assert fresh.store.chunk_count() == report.chunks == sum(d.chunks for d in fresh.documents())
    again = fresh.ingest([path])
    assert (again.unchanged, again.added, again.chunks) == (782, 0, 0)


@pytest.mark.slow
def test_dragonball_archive_ingests_as_40_documents(fresh):
    report = fresh.ingest([shared_file("data/dragonball_finance_en/docs.jsonl")])
    assert (report.added, report.failed) == (40, 0)
    answer = fresh.ask("When did Green Fields Agriculture Ltd. appoint a new CEO?")
    assert answer.retrieved[0].doc_id == "db-fin-en-044", "the company's own report comes first"

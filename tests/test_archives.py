"""Whole JSONL news archives from ../shared (slow: thousands of chunks through the real model)."""

import pytest

from .conftest import shared_file


@pytest.mark.slow
def test_realtimeqa_archive_ingests_as_782_documents(fresh):
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

"""assistant/search/retrieve.py: Retrieval: fusion, the keyword index kept in step with the store, wire copies
collapsed, filters."""

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.models import Filters, Passage
from assistant.search.retrieve import collapse_duplicates, diversify, fuse, query_terms

from .conftest import CORPUS

WIRE = {"wire-tumangang-surge-hct": "Harbor City Times", "wire-tumangang-wagons-lep": "Lakeside Evening Post"}


def passage(chunk_id, doc_id="d", text="", fused=0.0):
    return Passage(rank=1, doc_id=doc_id, chunk_id=chunk_id, title="t", start=0, end=len(text), score=0.0,
                   fused=fused, text=text)


def test_fusion_ranks_by_weighted_reciprocal_rank():
    dense = [passage("x"), passage("y")]
    keyword = [passage("y"), passage("z")]
    assert [p.chunk_id for p in fuse([dense, keyword], [1.0, 1.0], k=60)] == ["y", "x", "z"]
    fused = fuse([dense, keyword], [1.0, 0.0], k=60)
    assert [p.chunk_id for p in fused][:2] == ["x", "y"]
    assert fused[0].fused == pytest.approx(1 / 61, abs=1e-6)


def test_query_terms_drop_stopwords_and_repeats():
    assert query_terms("Who wrote the study, and who signed the study?") == ["wrote", "study", "signed"]


def test_near_identical_chunks_of_other_reports_collapse_into_one_passage():
    story = "Satellite images show 73 freight cars at Tumangang station, far more than in five years. " * 3
    kept = collapse_duplicates([passage("a::0", "a", story), passage("b::0", "b", "Wire copy: " + story),
                                passage("a::1", "a", story), passage("c::0", "c", "Something else entirely.")])
    assert [p.chunk_id for p in kept] == ["a::0", "a::1", "c::0"]  # a report's own repeats are not copies
    assert [c.doc_id for c in kept[0].copies] == ["b"]


def test_diversity_lets_other_reports_through():
    ranked = [passage("a::0", "a", fused=1.0), passage("a::1", "a", fused=0.9), passage("b::0", "b", fused=0.8)]
    assert [p.chunk_id for p in diversify(ranked, 1.0)] == ["a::0", "a::1", "b::0"]
    assert [p.chunk_id for p in diversify(ranked, 0.8)] == ["a::0", "b::0", "a::1"]


def test_keyword_search_finds_the_rare_words_dense_retrieval_blurs(assistant):
    question = "What did Jennifer Jun work on?"
    hits = assistant.store.keyword_search(query_terms(question), 5)
    assert hits and all("Jennifer Jun" in h["text"] for h in hits[:3])
    vector = assistant.embed_model.get_query_embedding(question)
    assert any("Jennifer Jun" in p.text for p in assistant.retriever.retrieve(question, vector, 3))


def test_wire_copies_are_one_passage_that_names_every_outlet(assistant):
    question = "Which study did the wire story on the Tumangang rail surge cite?"
    vector = assistant.embed_model.get_query_embedding(question)
    retrieved = assistant.retriever.retrieve(question, vector, 10)
    wire = [p for p in retrieved if p.doc_id in WIRE]
    assert wire, "a wire copy is retrieved"
    assert any(c.doc_id in WIRE and c.source == WIRE[c.doc_id] for p in wire for c in p.copies)
    for p in wire:  # the copy is not shown again as a passage of its own
        for c in p.copies:
            assert c.chunk_id not in {q.chunk_id for q in retrieved}


def test_filters_by_outlet_date_and_document(assistant):
    question = "How many freight cars were at Tumangang?"
    answer = assistant.ask(question, filters=Filters(sources=["amur business daily"]))
    assert answer.retrieved and {p.source for p in answer.retrieved} == {"Amur Business Daily"}
    answer = assistant.ask(question, filters=Filters(since="2023-10", until="2023-10-31"))
    assert answer.retrieved and all("2023-10-01" <= p.date <= "2023-10-31" for p in answer.retrieved)
    answer = assistant.ask(question, filters=Filters(doc_ids=["tumangang-freight-cars-nam"]))
    assert {p.doc_id for p in answer.retrieved} == {"tumangang-freight-cars-nam"}
    assert not answer.abstained and "73" in answer.answer
    nothing = assistant.ask(question, filters=Filters(sources=["No Such Outlet"]))
    assert nothing.abstained and nothing.retrieved == []


def test_filter_dates_are_checked_and_widened_to_whole_months():
    assert Filters(since="2023-10", until="2023-02").model_dump()["until"] == "2023-02-28"
    assert Filters(until="2024").until == "2024-12-31" and Filters(since="2024").since == "2024-01-01"
    with pytest.raises(ValueError, match="not a date"):
        Filters(since="last Tuesday")


def test_cli_filters(assistant):
    runner = CliRunner()
    store = str(assistant.settings.store)
    ok = runner.invoke(app, ["ask", "How many freight cars were at Tumangang?", "--store", store,
                             "--source", "Eastern Rail Gazette", "--json"])
    assert ok.exit_code == 0, ok.output
    assert '"Eastern Rail Gazette"' in ok.stdout and '"Amur Business Daily"' not in ok.stdout
    bad = runner.invoke(app, ["ask", "Anything?", "--store", store, "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since" in bad.output and "not a date" in bad.output


def test_the_keyword_index_follows_ingest_and_remove_and_is_rebuilt_when_missing(fresh, tmp_path):
    from assistant.index.store import Store

    report = tmp_path / "report.md"
    report.write_text("---\ntitle: Wildlife count\n---\n\nRangers counted 412 zebras in the Okavango delta.\n")
    fresh.ingest([report])
    assert fresh.store.keyword_search(["zebras"], 5)
    report.write_text("---\ntitle: Wildlife count\n---\n\nRangers counted 398 giraffes in the Okavango delta.\n")
    fresh.ingest([report])
    assert not fresh.store.keyword_search(["zebras"], 5)  # the old text left the index with its chunks
    assert fresh.store.keyword_search(["giraffes"], 5)
    (doc,) = fresh.documents()
    fresh.store.catalog.db.execute("DELETE FROM chunks_fts")  # a store from before the keyword index
    fresh.store.catalog.db.commit()
    reopened = Store(fresh.settings.store, fresh.store.build)
    assert reopened.keyword_search(["giraffes"], 5)[0]["doc_id"] == doc.doc_id
    fresh.remove([doc.doc_id])
    assert not fresh.store.keyword_search(["giraffes"], 5)


def test_a_store_refuses_other_chunking_or_headers(tmp_path, model_parts):
    from assistant import Assistant
    from assistant.index.store import StoreMismatch
    from assistant.settings import Settings

    first = Assistant(settings=Settings(store=tmp_path / "s"))
    first.__dict__["embed_model"], first.__dict__["chunker"] = model_parts
    first.ingest([CORPUS / "2023-10-06-tumangang-freight-cars.md"])
    other = Assistant(settings=Settings(store=tmp_path / "s", contextual_headers=False))
    with pytest.raises(StoreMismatch, match="chunk_header"):
        other.store  # noqa: B018


def test_the_retrieval_evaluation_runs_and_prints_its_table(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT

    out = tmp_path / "table.md"
    done = subprocess.run([sys.executable, str(ROOT / "evals" / "retrieval.py"), "--sets", "corpus", "--no-stock",
                           "--limit", "5", "--configs", "+ title match (all: the defaults)", "--work", str(tmp_path),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    row = next(line for line in out.read_text().splitlines() if line.startswith("| + title match"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(0.0 <= float(c) <= 1.0 for c in cells[1:6]), row

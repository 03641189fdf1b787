"""assistant/ingest/chunking.py: chunks that fit the model's window, with their offsets and headers."""

import json

import pytest

from assistant.ingest.chunking import Chunker, WindowError

from .conftest import CORPUS, shared_file


def check_chunks(chunker, text):
    nodes = chunker.chunk("d", text, {"title": "t"})
    assert nodes
    for node in nodes:
        start, end = node.metadata["start"], node.metadata["end"]
        assert text[start:end] == node.get_content(), "offsets must point at the chunk's exact text"
        assert chunker.pieces(chunker.embed_text(node)) <= chunker.window, "the model would cut this chunk off"
    return nodes


def test_corpus_chunks_fit_the_window_with_exact_offsets(assistant):
    for path in CORPUS.glob("*.md"):
        check_chunks(assistant.chunker, path.read_text())


def test_news_chunks_fit_the_window(assistant):
    src = shared_file("data/realtimeqa/docs.jsonl")
    for line in src.read_text().splitlines()[:40]:
        check_chunks(assistant.chunker, json.loads(line)["body"])


def test_pathological_text_is_split_not_cut(assistant):
    check_chunks(assistant.chunker, "x" * 20_000)  # one 'word' with no spaces
    check_chunks(assistant.chunker, ("Same paragraph repeated. " * 30 + "\n\n") * 5)  # repeats map to own places
    check_chunks(assistant.chunker, "١٢٣ 北朝鲜 🚂 " * 500)  # many word pieces per character


def test_chunks_overlap_and_cover_the_text(assistant):
    text = " ".join(f"Sentence number {i} is about freight cars." for i in range(300))
    nodes = check_chunks(assistant.chunker, text)
    assert len(nodes) > 3
    for a, b in zip(nodes, nodes[1:]):
        assert b.metadata["start"] <= a.metadata["end"], "neighbouring chunks share a little text"


def test_settings_that_would_cut_chunks_are_refused(assistant):
    with pytest.raises(WindowError, match="window of 256"):
        Chunker(assistant.chunker.tokenize, window=256, chunk_size=300, chunk_overlap=10)

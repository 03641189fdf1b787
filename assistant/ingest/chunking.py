"""Chunk: a document's text -> llama-index TextNodes on sentence boundaries, sized in the embedding
model's own word pieces so that the model sees every piece of every chunk, each with exact offsets."""

from __future__ import annotations

from collections.abc import Callable

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode

HEADER_KEYS = ("title", "source", "date")
# Word pieces the model adds around every input ([CLS] and [SEP] for BERT-style models).
SPECIAL_TOKENS = 2


class WindowError(ValueError):
    """The settings ask for chunks that the embedding model would cut off."""


class Chunker:
    def __init__(self, tokenize: Callable[[str], list], window: int, chunk_size: int, chunk_overlap: int,
                 header_keys: tuple[str, ...] = HEADER_KEYS):
        if chunk_size + SPECIAL_TOKENS > window:
            raise WindowError(f"chunk_size {chunk_size} + {SPECIAL_TOKENS} special tokens is over the embedding "
                              f"model's window of {window} word pieces: the model would cut chunks off")
        self.tokenize = tokenize
        self.window = window
        self.header_keys = header_keys
        self.splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2),
                                         tokenizer=tokenize)

    def pieces(self, text: str) -> int:
        """Word pieces the model sees for `text`, special tokens included."""
        return len(self.tokenize(text)) + SPECIAL_TOKENS

    def chunk(self, doc_id: str, text: str, metadata: dict) -> list[TextNode]:
        spans = self._spans(text, self.splitter)
        nodes = []
        for i, (start, end) in enumerate(spans):
            node = TextNode(
                id_=f"{doc_id}::{i}",
                text=text[start:end],
                start_char_idx=start,
                end_char_idx=end,
                metadata={**metadata, "doc_id": doc_id, "start": start, "end": end, "chunk": i},
                # What is embedded starts with the report's title, outlet and date (a "title: ..." header),
                # so a passage that never repeats its topic is still found by it; citations point at the
                # bare text span.
                excluded_embed_metadata_keys=[k for k in metadata if k not in self.header_keys]
                + ["doc_id", "start", "end", "chunk"],
                excluded_llm_metadata_keys=list(metadata) + ["doc_id", "start", "end", "chunk"],
                metadata_template="{key}: {value}",
                text_template="{metadata_str}\n\n{content}",
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc_id)
            nodes.append(node)
        return nodes

    def embed_text(self, node: TextNode) -> str:
        return node.get_content(metadata_mode=MetadataMode.EMBED)

    def _spans(self, text: str, splitter: SentenceSplitter, offset: int = 0) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        cursor = 0
        for piece in splitter.split_text(text):
            # The splitter returns substrings of the text; find each after the previous one's start, so
            # that a repeated paragraph maps to its own place.
            start = text.find(piece, cursor)
            if start < 0:
                raise AssertionError(f"chunk not found in its document text: {piece[:60]!r}")
            end = start + len(piece)
            cursor = start + 1
            if self.pieces(piece) > self.window:
                # Token counts of separate splits can add up to less than the joined text; never let
                # the model cut a chunk off: split it again, finer.
                finer = SentenceSplitter(chunk_size=max(16, splitter.chunk_size // 2), chunk_overlap=0,
                                         tokenizer=self.tokenize)
                spans.extend(self._spans(piece, finer, offset + start))
            else:
                spans.append((offset + start, offset + end))
        return spans

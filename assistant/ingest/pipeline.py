"""Ingest: files in, reports stored. Each file is found, fingerprinted, loaded, its reports identified (new,
changed or unchanged), chunked, embedded and written to the store a batch at a time. A file that fails is
reported with its reason and never stops the others; what was stored before is kept. The caller holds the
writer lock (core.Assistant.ingest)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..models import IngestedDocument, IngestReport
from ..text import passage_window, sentence_spans
from . import loaders

UPLOAD_PREFIX = "upload:"
FLUSH_CHUNKS = 1024  # chunks embedded and stored at once during ingest: enough to sort by length well

Progress = Callable[[int, int, IngestReport], None]


class Ingestor:
    """`store` (index/store.py), `chunker` (chunking.py) and `embed(texts, urgent)` (unit vectors, cached) are
    the Assistant's; `encoded()` counts the texts it has encoded afresh (cache misses), for the report.
    `sentence_vectors`: also embed the sentences timelines compare, at ingest. `uploads`: a folder whose files
    are named `upload:NAME` in the catalog, not by their path, so that every server over a shared catalog names
    an uploaded report alike (each stages uploads in a folder of its own)."""

    def __init__(self, store, chunker, embed: Callable[..., np.ndarray], encoded: Callable[[], int],
                 max_file_mb: float, max_document_mb: float, sentence_vectors: bool, uploads: Path | None = None):
        self.store = store
        self.chunker = chunker
        self.embed = embed
        self.encoded = encoded
        self.max_file_bytes = int(max_file_mb * 1e6)
        self.max_document_bytes = int(max_document_mb * 1e6)
        self.sentence_vectors = sentence_vectors
        self.uploads = str(uploads.resolve()) + "/" if uploads else None

    def named(self, path: str) -> str:
        """What the catalog calls a file (or a locator that starts with its path)."""
        if self.uploads and path.startswith(self.uploads):
            return UPLOAD_PREFIX + path[len(self.uploads):]
        return path

    def run(self, paths: Sequence[str | Path], progress: bool = False,
            on_progress: Progress | None = None) -> IngestReport:
        from tqdm import tqdm

        files, missing, skipped = loaders.find_files(list(paths))
        report = IngestReport(skipped=skipped)
        for path, error in missing:
            record(report, IngestedDocument(doc_id=None, path=path, title=None, status="failed", error=error))
        pending: list[tuple[loaders.LoadedDocument, str, str, list]] = []
        finished_files: list[tuple[str, str, list[str]]] = []
        used_ids: dict[str, str] = {}
        with tqdm(total=len(files), unit="file", desc="ingest", disable=not progress, file=sys.stderr) as bar:
            for done, path in enumerate(files):
                # An archive's reports are stored a batch at a time: progress is told after each batch too.
                tick = (lambda files_done=done: on_progress(files_done, len(files), report)) if on_progress else None
                self._file(path, report, pending, finished_files, used_ids, bar, tick)
                bar.update(1)
                if tick:
                    tick(done + 1)
            self._flush(pending, finished_files, report)
        if on_progress:
            on_progress(len(files), len(files), report)
        return report

    def _file(self, path: Path, report: IngestReport, pending: list, finished_files: list,
              used_ids: dict[str, str], bar, tick: Callable[[], None] | None) -> None:
        real = self.named(str(path.resolve()))
        try:
            checksum = loaders.checksum(path)
        except OSError as exc:
            record(report, IngestedDocument(doc_id=None, path=str(path), title=None, status="failed",
                                            error=f"{path}: cannot read ({exc.strerror or exc})"))
            return
        known = self.store.file_checksum(real)
        if known and known[0] == checksum and all(self.store.has(d) for d in known[1]):
            for doc_id in known[1]:
                info = self.store.document(doc_id)
                record(report, IngestedDocument(doc_id=doc_id, path=str(path), title=info.title,
                                                status="unchanged", chunks=info.chunks))
            return
        try:
            loaded = loaders.load_file(path, self.max_file_bytes, self.max_document_bytes)
        except loaders.LoadError as exc:
            record(report, IngestedDocument(doc_id=None, path=str(path), title=None, status="failed",
                                            error=str(exc)))
            return
        for error in loaded.errors:
            where = error.split(": ", 1)[0]
            record(report, IngestedDocument(doc_id=None, path=where, title=None, status="failed", error=error))
        doc_ids = []
        for doc in loaded.documents:
            doc_id, status = self._identify(doc)
            if doc_id in used_ids:
                record(report, IngestedDocument(
                    doc_id=doc_id, path=str(path), title=doc.meta.get("title"), status="failed",
                    error=f"{doc.locator}: doc_id {doc_id!r} is already used by {used_ids[doc_id]} in this ingest"))
                continue
            used_ids[doc_id] = doc.locator
            doc_ids.append(doc_id)
            if status == "unchanged":
                info = self.store.document(doc_id)
                record(report, IngestedDocument(doc_id=doc_id, path=str(path), title=info.title,
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
        prior = self.store.by_locator(self.named(doc.locator))
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
            encoded = self.encoded()
            vectors = self.embed([self.chunker.embed_text(n) for n in nodes], urgent=False)
            report.embedded += self.encoded() - encoded
            for node, vector in zip(nodes, vectors):
                node.embedding = vector.tolist()
            if self.sentence_vectors:
                self._embed_sentences(pending)
        # One write for the whole batch: Chroma's per-call cost made per-report writes ~40% slower.
        self.store.put_many([(doc_id, self.named(doc.locator), self.named(str(Path(doc.path).resolve())), doc.meta,
                              doc.text, doc.hash, doc_nodes) for doc, doc_id, _, doc_nodes in pending])
        for doc, doc_id, status, doc_nodes in pending:
            report.chunks += len(doc_nodes)
            record(report, IngestedDocument(doc_id=doc_id, path=doc.path, title=doc.meta.get("title"),
                                            status=status, chunks=len(doc_nodes)))
        for real, checksum, doc_ids in finished_files:
            self.store.set_file(real, checksum, doc_ids)
        pending.clear()
        finished_files.clear()

    def _embed_sentences(self, pending: list) -> None:
        """Puts the sentences that timelines and later-report notes compare into the embedding cache."""
        texts = [doc.text[a:b] for doc, _, _, doc_nodes in pending for n in doc_nodes
                 for a, b in sentence_spans(doc.text, *passage_window(doc.text, n.start_char_idx, n.end_char_idx))]
        self.embed(list(dict.fromkeys(texts)), urgent=False)


def record(report: IngestReport, entry: IngestedDocument) -> None:
    report.documents.append(entry)
    setattr(report, entry.status, getattr(report, entry.status) + 1)

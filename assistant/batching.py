"""Encoding for many threads at once: one thread runs the embedding model; the texts that questions ask
for at the same moment are encoded in one batch, and go before an ingest's.

With questions in parallel (issue 16), each encoding its query alone cost 68 ms of CPU; eight in one batch
cost 12 ms each. An ingest hands its chunks over a batch at a time, so a question waits for at most one
batch of chunks, never for a whole archive. No library batches requests from concurrent callers with a
priority in-process (sentence-transformers' pool splits one big job over processes), hence the code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

Encode = Callable[[list[str], str], np.ndarray]  # (texts, "query" | "text") -> unit vectors, one row each


class EncoderQueue:
    def __init__(self, encode: Encode, batch: int = 64):
        self._encode = encode
        self.batch = batch
        self._ready = threading.Condition()
        self._urgent: list[tuple[list[str], str, Future]] = []  # questions
        self._bulk: list[tuple[list[str], str, Future]] = []  # ingests
        self._worker: threading.Thread | None = None

    def encode(self, texts: list[str], kind: str = "text", urgent: bool = True) -> np.ndarray:
        """Unit vectors for `texts`. `kind` "query" encodes them as questions (models with a query prompt
        use it). Urgent work (a question) is batched with other questions' and goes first; other work
        (an ingest) goes a batch at a time when no question waits."""
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        if urgent:
            return self._submit(texts, kind, self._urgent).result()
        parts = [self._submit(texts[i:i + self.batch], kind, self._bulk) for i in range(0, len(texts), self.batch)]
        return np.concatenate([p.result() for p in parts])

    def _submit(self, texts: list[str], kind: str, queue: list) -> Future:
        future: Future = Future()
        with self._ready:
            queue.append((texts, kind, future))
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="encoder", daemon=True)
                self._worker.start()
            self._ready.notify()
        return future

    def _take(self) -> list[tuple[list[str], str, Future]]:
        """The next batch: every waiting question of the first one's kind (up to `batch` texts beyond the
        first), else one ingest batch."""
        with self._ready:
            self._ready.wait_for(lambda: self._urgent or self._bulk)
            if not self._urgent:
                return [self._bulk.pop(0)]
            kind = self._urgent[0][1]
            taken, size, keep = [], 0, []
            for request in self._urgent:
                if request[1] == kind and (not taken or size + len(request[0]) <= self.batch):
                    taken.append(request)
                    size += len(request[0])
                else:
                    keep.append(request)
            self._urgent[:] = keep
            return taken

    def _run(self) -> None:
        while True:
            requests = self._take()
            texts = [t for r in requests for t in r[0]]
            try:
                vectors = np.asarray(self._encode(texts, requests[0][1]), dtype=np.float32)
            except BaseException as exc:  # the callers get the error; the worker goes on
                for *_, future in requests:
                    future.set_exception(exc)
                continue
            start = 0
            for request_texts, _, future in requests:
                future.set_result(vectors[start:start + len(request_texts)])
                start += len(request_texts)

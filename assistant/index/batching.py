"""Encoding for many threads at once: one thread runs the embedding model; the texts that questions ask
for at the same moment are encoded in one batch, and go before an ingest's.

With questions in parallel (issue 16), each encoding its query alone cost 68 ms of CPU; eight in one batch
cost 12 ms each. An ingest hands its chunks over eight at a time, so a question waits for at most one
small batch of chunks (about 0.2 s here), never for a whole archive; eight chunks a batch encode as fast
per chunk as 32 (42 against 40 chunks/s), whose batch took 0.8 s. No library batches requests from
concurrent callers with a priority in-process (sentence-transformers' pool splits one big job over
processes), hence the code.

Questions never starve an ingest: while they keep coming, an ingest batch still goes at least every
BULK_EVERY seconds, encoded on one thread (`set_threads`) so that the questions keep a core for the rest
of their work. Small batches (a query) go on one thread too: a second one only burns CPU on them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

BULK_EVERY = 0.5  # seconds: the longest an ingest waits behind questions for its next batch
RECENT = 1.0  # seconds since a question last asked, within which questions count as coming
# Texts up to which a batch is encoded on one thread: a query took 35 ms of CPU on one thread, 60 ms on two
# for 30 ms of wall time; 100 sentences took 1.1 s on one thread, 0.6 s on two for the same CPU.
SMALL = 8

Encode = Callable[[list[str], str], np.ndarray]  # (texts, "query" | "text") -> unit vectors, one row each


class EncoderQueue:
    def __init__(self, encode: Encode, batch: int = 64, bulk: int = 8,
                 set_threads: Callable[[int], None] | None = None, threads: int = 1):
        self._encode = encode
        self.batch = batch  # most texts of waiting questions encoded together
        self.bulk = bulk  # texts of an ingest encoded at once
        self._set_threads, self._threads, self._using = set_threads, threads, threads
        self._ready = threading.Condition()
        self._urgent: list[tuple[list[str], str, Future]] = []  # questions
        self._bulk: list[tuple[list[str], str, Future]] = []  # ingests
        self._worker: threading.Thread | None = None
        self._bulk_at = 0.0  # when an ingest batch last went
        self._asked_at = 0.0  # when a question last asked

    def encode(self, texts: list[str], kind: str = "text", urgent: bool = True) -> np.ndarray:
        """Unit vectors for `texts`. `kind` "query" encodes them as questions (models with a query prompt
        use it). Urgent work (a question) is batched with other questions' and goes first; other work
        (an ingest) goes a batch at a time when no question waits."""
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        if urgent:
            return self._submit(texts, kind, self._urgent).result()
        parts = [self._submit(texts[i:i + self.bulk], kind, self._bulk) for i in range(0, len(texts), self.bulk)]
        return np.concatenate([p.result() for p in parts])

    def _submit(self, texts: list[str], kind: str, queue: list) -> Future:
        future: Future = Future()
        with self._ready:
            queue.append((texts, kind, future))
            if queue is self._urgent:
                self._asked_at = time.monotonic()
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="encoder", daemon=True)
                self._worker.start()
            self._ready.notify()
        return future

    def _take(self) -> tuple[list[tuple[list[str], str, Future]], bool]:
        """The next batch: every waiting question of the first one's kind (up to `batch` texts beyond the
        first); one ingest batch when no question waits, or when the last went BULK_EVERY seconds ago.
        Also whether it is an ingest batch."""
        with self._ready:
            self._ready.wait_for(lambda: self._urgent or self._bulk)
            if self._bulk and (not self._urgent or time.monotonic() - self._bulk_at > BULK_EVERY):
                self._bulk_at = time.monotonic()
                return [self._bulk.pop(0)], True
            kind = self._urgent[0][1]
            taken, size, keep = [], 0, []
            for request in self._urgent:
                if request[1] == kind and (not taken or size + len(request[0]) <= self.batch):
                    taken.append(request)
                    size += len(request[0])
                else:
                    keep.append(request)
            self._urgent[:] = keep
            return taken, False

    def _threads_for(self, one: bool) -> None:
        wanted = 1 if one else self._threads
        if self._set_threads is not None and wanted != self._using:
            self._set_threads(wanted)
            self._using = wanted

    def _run(self) -> None:
        while True:
            requests, bulk = self._take()
            texts = [t for r in requests for t in r[0]]
            # One thread for a question's small batch, and for an ingest's while questions come; all otherwise.
            questions_coming = time.monotonic() - self._asked_at < RECENT
            self._threads_for(one=questions_coming if bulk else len(texts) <= SMALL)
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

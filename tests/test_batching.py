"""assistant/index/batching.py: The encoder queue (batching.py): questions asked together are encoded in one batch and
go before an ingest's chunks; an ingest still moves while questions keep coming; an error reaches its caller only."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from assistant.index.batching import BULK_EVERY, EncoderQueue


class Recorder:
    """Encodes a text as [len(text)], slowly, and records each batch it was given."""

    def __init__(self, seconds: float = 0.05):
        self.batches: list[tuple[str, list[str]]] = []
        self.seconds = seconds

    def __call__(self, texts: list[str], kind: str) -> np.ndarray:
        if "boom" in texts:
            raise RuntimeError("boom")
        self.batches.append((kind, list(texts)))
        time.sleep(self.seconds)
        return np.array([[float(len(t))] for t in texts])


def test_questions_asked_together_share_a_batch_and_get_their_own_rows():
    encode = Recorder()
    queue = EncoderQueue(encode, batch=64)
    queue.encode(["warm"])  # the worker is now busy for a moment with nothing: the next ones queue up
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, queue.encode(["x" * i], kind="query")))
               for i in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.tolist() for i, r in results.items()} == {i: [[float(i)]] for i in range(1, 7)}
    assert len(encode.batches) < 1 + 6  # some of the six went together
    assert all(kind == "query" for kind, _ in encode.batches[1:])


def test_an_ingest_goes_in_small_batches_and_questions_go_first():
    encode = Recorder()
    queue = EncoderQueue(encode, batch=64, bulk=4)
    done = []
    ingest = threading.Thread(target=lambda: done.append(queue.encode([f"c{i}" for i in range(40)], urgent=False)))
    ingest.start()
    time.sleep(0.12)
    started = time.monotonic()
    queue.encode(["question?"])
    waited = time.monotonic() - started
    ingest.join()
    assert done[0].shape == (40, 1) and all(len(texts) <= 4 for _, texts in encode.batches if texts[0][0] == "c")
    assert waited < 0.2  # at most the ingest batch in flight, not the other eight
    assert ["question?"] in [texts for _, texts in encode.batches[:5]]


def test_questions_that_keep_coming_do_not_starve_an_ingest():
    encode = Recorder(seconds=0.02)
    queue = EncoderQueue(encode, batch=64, bulk=4)
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            queue.encode(["q"])

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for t in askers:
        t.start()
    started = time.monotonic()
    queue.encode([f"c{i}" for i in range(16)], urgent=False)
    took = time.monotonic() - started
    stop.set()
    for t in askers:
        t.join()
    assert took < 4 * BULK_EVERY + 1  # four batches, each within BULK_EVERY of the last


def test_an_error_reaches_its_caller_and_the_queue_goes_on():
    queue = EncoderQueue(Recorder(seconds=0))
    with pytest.raises(RuntimeError, match="boom"):
        queue.encode(["boom"])
    assert queue.encode(["ok"]).tolist() == [[2.0]]


def test_an_ingest_batch_uses_one_thread_while_questions_come():
    encode = Recorder(seconds=0.01)
    threads = []
    queue = EncoderQueue(encode, bulk=4, set_threads=threads.append, threads=2)
    queue.encode([f"c{i}" for i in range(10)], urgent=False)  # no question lately: all threads, small batches too
    assert threads == []
    queue.encode(["question?"])  # small: one thread
    queue.encode([f"d{i}" for i in range(4)], urgent=False)  # a question a moment ago: one thread
    queue.encode([f"sentence {i}" for i in range(20)])  # a question's sentences: all threads
    assert threads == [1, 2]

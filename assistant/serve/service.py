"""What the chat and the HTTP API share: one Assistant, a gate of `workers` questions at once, the warm-up,
and ingest jobs run in the background.

Jobs are kept in the catalog, so that every server over a shared catalog answers GET /api/jobs/{id}; the server
running a job says so every few seconds (a heartbeat), and a job whose server stopped saying so is reported
failed (catalog.JOB_STALE_SECONDS)."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..core import Assistant
from ..models import Answer, Comparison, Timeline

JOB_BEAT_SECONDS = 5.0  # well inside catalog.JOB_STALE_SECONDS


@dataclass
class Job:
    """An ingest started over HTTP, followed at GET /api/jobs/{id}."""

    id: str
    files: list[str]
    status: Literal["queued", "running", "done", "failed"] = "queued"
    files_done: int = 0
    documents_done: int = 0
    created: float = field(default_factory=time.time)
    finished: float | None = None
    result: dict | None = None
    error: str | None = None

    def as_json(self) -> dict:
        return {"id": self.id, "status": self.status, "files": self.files, "files_done": self.files_done,
                "documents_done": self.documents_done, "created": _iso(self.created),
                "finished": _iso(self.finished) if self.finished else None, "result": self.result,
                "error": self.error}


class Service:
    def __init__(self, assistant: Assistant, workers: int = 0):
        self.assistant = assistant
        # Two per core: part of a question runs outside Python's GIL (encoding, SQLite, Chroma), and a second
        # one per core fills that time. On 2 cores, 20 clients got 12.4 answers/s with 2, 13.2 with 3, 13.5
        # with 4 (docs/server.md). Questions beyond it wait here rather than share the cores.
        self.workers = workers or 2 * (os.cpu_count() or 1)
        self.gate = threading.BoundedSemaphore(self.workers)
        self.ready = threading.Event()
        self.failed: str | None = None
        self.jobs: dict[str, Job] = {}  # this server's jobs that have not finished
        self.name = f"pid {os.getpid()} on {socket.gethostname()}"
        self._beating = threading.Event()
        self._ingests = ThreadPoolExecutor(1, thread_name_prefix="ingest")  # writes go one at a time anyway

    @property
    def uploads(self) -> Path:
        return self.assistant.uploads

    def warm(self) -> None:
        try:
            self.assistant.warm()
        except Exception as exc:  # reported by /api/health and on the console; the chat stays up
            self.failed = f"{type(exc).__name__}: {exc}"
            raise
        self.ready.set()

    def wait_ready(self) -> None:
        """Until the warm-up is done; raises RuntimeError if it failed (a question would fail the same way)."""
        while not self.ready.wait(timeout=0.5):
            if self.failed:
                raise RuntimeError(f"the server cannot answer: {self.failed}")

    def ask(self, question: str, **options) -> Answer:
        return self._gated(self.assistant.ask, question, **options)

    def timeline(self, topic: str, **options) -> Timeline:
        return self._gated(self.assistant.timeline, topic, **options)

    def compare(self, question: str, **options) -> Comparison:
        return self._gated(self.assistant.compare, question, **options)

    def _gated(self, method, *args, **options):
        """A call that reads the library and encodes: it waits for the warm-up, then for its turn at the gate."""
        self.wait_ready()
        with self.gate:
            return method(*args, **options)

    def ask_stream(self, question: str, **options) -> Iterator:
        self.wait_ready()
        # Released by whichever thread resumes the generator last: a Semaphore allows that, a Lock would too.
        self.gate.acquire()
        try:
            yield from self.assistant.ask_stream(question, **options)
        finally:
            self.gate.release()

    def ingest(self, paths: list[Path], wait: float) -> Job:
        """Ingest in the background; waits up to `wait` seconds for it to finish."""
        catalog = self.assistant.store.catalog
        job = Job(id=uuid.uuid4().hex[:12], files=[p.name for p in paths])
        self.jobs[job.id] = job
        catalog.save_job(job.as_json(), self.name)
        self._heartbeat()

        def progress(files_done: int, _files: int, report) -> None:
            job.files_done, job.documents_done = files_done, len(report.documents)
            catalog.save_job(job.as_json(), self.name)

        def run() -> None:
            job.status = "running"
            try:
                catalog.save_job(job.as_json(), self.name)
                report = self.assistant.ingest(paths, on_progress=progress)
                job.result, job.status = report.model_dump(mode="json"), "done"
            except Exception as exc:
                job.error, job.status = f"{type(exc).__name__}: {exc}", "failed"
            job.finished = time.time()
            try:
                catalog.save_job(job.as_json(), self.name)
            finally:
                self.jobs.pop(job.id, None)

        wait_for([self._ingests.submit(run)], timeout=wait)
        return job

    def job(self, job_id: str) -> dict | None:
        """A job of any server over this catalog, as JSON; None if there is none."""
        return self.assistant.store.catalog.job(job_id)

    def _heartbeat(self) -> None:
        """Tell the catalog, every few seconds, that this server's jobs are still running."""
        if self._beating.is_set():
            return
        self._beating.set()

        def beat() -> None:
            while True:
                time.sleep(JOB_BEAT_SECONDS)
                if self.jobs:
                    try:
                        self.assistant.store.catalog.beat(list(self.jobs))
                    except Exception as exc:  # the catalog is down: the next beat tries again
                        print(f"warning: job heartbeat: {exc}", file=sys.stderr)

        threading.Thread(target=beat, name="job-heartbeat", daemon=True).start()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

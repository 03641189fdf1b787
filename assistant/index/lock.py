"""One writer at a time per store: ingest and remove take an exclusive lock on a file in the store folder.

An OS file lock (flock) is released by the kernel when its process dies, even by kill -9, so a crash
never leaves a store locked; the marker file beside it says whether a write was cut short.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = "writer.lock"
DIRTY_FILE = "write-in-progress"
SERVER_FILE = "server.lock"  # held by `assistant serve` for its whole life; holds its pid and URL


class StoreBusy(RuntimeError):
    """Another process is writing to the store, and did not finish within the wait allowed."""


class StoreServed(RuntimeError):
    """A running `assistant serve` holds the store: writes go through it."""


@contextlib.contextmanager
def serving(folder: Path, url: str) -> Iterator[None]:
    """Mark the store as served from `url` while the server runs, so that a CLI ingest is refused instead
    of becoming a second writer behind the server's back. Raises StoreServed if another server has it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / SERVER_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreServed(f"the store {folder} is already served by {_server(handle)}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} at {url}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def served_by(folder: Path) -> str | None:
    """'pid N at URL' of the server holding the store, or None."""
    if not (folder / SERVER_FILE).exists():
        return None
    with open(folder / SERVER_FILE) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _server(handle)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _server(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "another process"


@contextlib.contextmanager
def writer(folder: Path, wait_seconds: float) -> Iterator[bool]:
    """Hold the store's writer lock. Yields whether the previous write was cut short (its marker is
    still there), so that the caller can repair what it left."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(handle)
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"another process{holder} is writing to the store {folder}; try again when it "
                                    "has finished (setting ingest_wait_seconds)") from None
                if not told:
                    print(f"waiting for another process{holder} writing to {folder}...", file=sys.stderr)
                    told = True
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        marker = folder / DIRTY_FILE
        interrupted = marker.exists()
        marker.write_text(str(os.getpid()))
        try:
            yield interrupted
            marker.unlink()  # only a write that ran to its end clears the marker
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(handle) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f" (pid {pid})" if pid.isdigit() else ""


@contextlib.contextmanager
def sole_writer(store, wait_seconds: float, in_process: threading.Lock) -> Iterator[None]:
    """Be the store's only writer: in this process (`in_process`), and across processes and servers (the
    catalog's writer lock: this file's `writer`, or PostgreSQL's advisory lock); first repairing what a write
    cut short left behind (store.repair)."""
    with in_process, store.catalog.writer(wait_seconds) as interrupted:
        if interrupted:
            fixed = store.repair()
            print(f"the last write to {store.catalog.where} was cut short: removed chunks of {fixed['orphans']} "
                  f"unfinished reports; {fixed['stale']} reports will be written again", file=sys.stderr)
        yield

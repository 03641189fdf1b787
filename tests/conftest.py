"""Shared fixtures: one real store (real model, real Chroma) over the bundled corpus, built once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"
QUESTIONS = ROOT / "evals" / "sets" / "corpus_questions.jsonl"


def shared_file(relative: str) -> Path:
    """A file of ../shared/, or a skip when this checkout has none (a user's fresh clone)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/ comes with the development machines and CI)")
    return path


def corpus_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    from assistant import Assistant

    a = Assistant(store=tmp_path_factory.mktemp("store"))
    report = a.ingest([CORPUS])
    assert report.failed == 0, report.documents
    return a


def store_copy(assistant, tmp_path_factory, name: str) -> Path:
    """A copy of the session's store, for a served app whose uploads and load would change it."""
    import shutil

    store = tmp_path_factory.mktemp(name) / "store"
    shutil.copytree(assistant.settings.store, store)
    return store


@pytest.fixture(scope="session")
def model_parts(assistant):
    """The embedding model and chunker, loaded once for tests that build their own stores."""
    return assistant.embed_model, assistant.chunker


@pytest.fixture
def fresh(tmp_path, model_parts):
    """An empty store that shares the session's loaded model (loading it again costs seconds)."""
    from assistant import Assistant

    a = Assistant(store=tmp_path / "store")
    a.__dict__["embed_model"], a.__dict__["chunker"] = model_parts
    return a


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of the tests' own (Debian's, in a temporary data folder). It must start: the shared
    catalog is tested for real, never skipped (tests/backends.py says what failed)."""
    from .backends import BackendError, start_postgres, stop_postgres

    try:
        pg = start_postgres()
    except BackendError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield pg
    stop_postgres(pg)


@pytest.fixture(scope="session")
def chroma_server():
    """A `chroma run` server of the tests' own, on a free loopback port."""
    from .backends import BackendError, start_chroma, stop_chroma

    try:
        server = start_chroma()
    except BackendError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    stop_chroma(server)


def new_database(pg, name: str) -> str:
    """A new, empty database on the tests' PostgreSQL server: its URL."""
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + "/" + name

"""The `assistant` command: a thin layer over `Assistant`, one module per command group (ask.py: ingest,
ask, timeline, compare; docs.py; serve.py; evals.py) over what they share (app.py). Heavy libraries are
imported inside the commands, so that `assistant --help` answers at once."""

from __future__ import annotations

from . import ask, docs, evals, serve  # noqa: F401  (registering their commands)
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app()

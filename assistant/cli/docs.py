"""`assistant docs list|show|remove`: the documents in a store."""

from __future__ import annotations

import typer

from .app import (
    EXIT_BUSY,
    ChromaOpt,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    _assistant,
    _fail,
    _print_json,
    _refuse_if_served,
    docs_app,
)


@docs_app.command("list")
def docs_list(store: StoreOpt = None, config: ConfigOpt = None, chroma_url: ChromaOpt = None,
              as_json: JsonOpt = False) -> None:
    """The documents in the store, newest first."""
    docs = _assistant(store, config, answers=False, chroma_url=chroma_url).documents()
    if as_json:
        _print_json([d.model_dump(mode="json") for d in docs])
        return
    for d in docs:
        typer.echo(f"{d.doc_id:<40} {d.date or '':<10} {(d.source or '')[:24]:<24} {d.chunks:>4}  {d.title}")
    typer.echo(f"{len(docs)} documents")


@docs_app.command("show")
def docs_show(doc_id: str, store: StoreOpt = None, config: ConfigOpt = None, chroma_url: ChromaOpt = None,
              as_json: JsonOpt = False) -> None:
    """One document: its metadata and full extracted text."""
    try:
        doc = _assistant(store, config, answers=False, chroma_url=chroma_url).document(doc_id)
    except KeyError as exc:
        _fail(exc.args[0])
    if as_json:
        _print_json(doc.model_dump(mode="json"))
        return
    for field in ("doc_id", "title", "source", "author", "date", "url", "path", "chunks", "hash"):
        typer.echo(f"{field + ':':<8} {getattr(doc, field) or ''}")
    typer.echo("")
    typer.echo(doc.text)


@docs_app.command("remove")
def docs_remove(doc_ids: list[str], store: StoreOpt = None, config: ConfigOpt = None,
                chroma_url: ChromaOpt = None, as_json: JsonOpt = False) -> None:
    """Remove documents and all their chunks. Exit 1 if an id was not in the store."""
    from ..index.lock import StoreBusy

    assistant = _assistant(store, config, answers=False, chroma_url=chroma_url)
    _refuse_if_served(assistant)
    try:
        removed = assistant.remove(doc_ids)
    except StoreBusy as exc:
        _fail(str(exc), code=EXIT_BUSY)
    missing = [d for d in doc_ids if d not in removed]
    if as_json:
        _print_json({"removed": removed, "missing": missing})
    else:
        for d in removed:
            typer.echo(f"removed {d}")
        for d in missing:
            typer.echo(f"error: no document with doc_id {d!r}", err=True)
    if missing:
        raise typer.Exit(1)

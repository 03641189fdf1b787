"""`assistant docs list|show|remove`: the documents in a store; `assistant store copy`: a whole library moved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (
    EXIT_BUSY,
    CatalogOpt,
    ChromaOpt,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    _assistant,
    _fail,
    _print_json,
    _refuse_if_served,
    docs_app,
    store_app,
)


@docs_app.command("list")
def docs_list(store: StoreOpt = None, config: ConfigOpt = None, chroma_url: ChromaOpt = None,
              catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """The documents in the store, newest first."""
    docs = _assistant(store, config, answers=False, chroma_url=chroma_url, catalog_url=catalog).documents()
    if as_json:
        _print_json([d.model_dump(mode="json") for d in docs])
        return
    for d in docs:
        typer.echo(f"{d.doc_id:<40} {d.date or '':<10} {(d.source or '')[:24]:<24} {d.chunks:>4}  {d.title}")
    typer.echo(f"{len(docs)} documents")


@docs_app.command("show")
def docs_show(doc_id: str, store: StoreOpt = None, config: ConfigOpt = None, chroma_url: ChromaOpt = None,
              catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """One document: its metadata and full extracted text."""
    try:
        doc = _assistant(store, config, answers=False, chroma_url=chroma_url, catalog_url=catalog).document(doc_id)
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
                chroma_url: ChromaOpt = None, catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """Remove documents and all their chunks. Exit 1 if an id was not in the store."""
    from ..index.lock import StoreBusy

    assistant = _assistant(store, config, answers=False, chroma_url=chroma_url, catalog_url=catalog)
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


@store_app.command("copy")
def store_copy(
    src: str = typer.Argument(help="The library to copy: a store folder, or postgresql://... (with --src-chroma-url)."),
    dest: str = typer.Argument(help="Where to: a store folder, or postgresql://... (with --dest-chroma-url); it must "
                                    "hold no reports."),
    src_chroma_url: Annotated[Optional[str], typer.Option(
        "--src-chroma-url", help="The Chroma server holding the source's vectors, http[s]://HOST[:PORT].")] = None,
    dest_chroma_url: Annotated[Optional[str], typer.Option(
        "--dest-chroma-url", help="The Chroma server the copy's vectors go to, http[s]://HOST[:PORT].")] = None,
    src_collection: Annotated[str, typer.Option("--src-collection", help="The source's Chroma collection.")] = "chunks",
    dest_collection: Annotated[str, typer.Option("--dest-collection", help="The copy's Chroma collection.")] = "chunks",
    as_json: JsonOpt = False,
) -> None:
    """Copy a library: its reports, texts, versions, keyword index and vectors (not computed again); the counts
    are checked at the end. Exit 2 when a side cannot be opened or the copy does not add up."""
    import tempfile

    from ..index.copy import Place, copy_library
    from ..index.pg_catalog import CatalogUnavailable
    from ..index.store import StoreUnavailable

    def place(where: str, chroma_url: str | None, side: str, collection: str) -> Place:
        if where.startswith(("postgresql://", "postgres://")):
            if not chroma_url:
                _fail(f"{side} {where.split('@')[-1]}: a PostgreSQL catalog keeps its vectors in a Chroma server: "
                      f"give --{side}-chroma-url", code=2)
            return Place(Path(tempfile.mkdtemp(prefix="assistant-copy-")), where, chroma_url, collection)
        if side == "src" and not (Path(where) / "catalog.sqlite").is_file():
            _fail(f"src {where}: no store there (no catalog.sqlite)", code=2)
        return Place(Path(where), None, chroma_url, collection)

    try:
        counts = copy_library(place(src, src_chroma_url, "src", src_collection),
                              place(dest, dest_chroma_url, "dest", dest_collection))
    except (ValueError, CatalogUnavailable, StoreUnavailable) as exc:
        _fail(str(exc), code=2)
    if as_json:
        _print_json(counts)
        return
    typer.echo(f"copied {counts['documents']} reports, {counts['chunks']} chunks and {counts['files']} file "
               f"fingerprints; the counts match")

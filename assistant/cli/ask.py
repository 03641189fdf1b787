"""`assistant ingest`, `ask`, `timeline` and `compare`: reports in, answers out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from ..models import Answer, IngestReport

from .app import (
    EXIT_BUSY,
    EXIT_LLM,
    EXIT_PARTIAL,
    AnswererOpt,
    CatalogOpt,
    ChromaOpt,
    ConfigOpt,
    DocsOpt,
    JsonOpt,
    LlmKeyOpt,
    LlmModelOpt,
    LlmModeOpt,
    LlmUrlOpt,
    RetrievalOpt,
    SinceOpt,
    SourcesOpt,
    StoreOpt,
    StrictOpt,
    TopKOpt,
    UntilOpt,
    _assistant,
    _fail,
    _llm_settings,
    _print_json,
    _refuse_if_served,
    app,
)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive): .txt .md .html .pdf .docx "
                                                     ".jsonl")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None, catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Add reports to the store, or update the ones that changed. Exit 3 when some files failed."""
    from ..index.lock import StoreBusy

    assistant = _assistant(store, config, answers=False, chroma_url=chroma_url, catalog_url=catalog)
    _refuse_if_served(assistant)
    try:
        report = assistant.ingest(paths, progress=not quiet and sys.stderr.isatty())
    except StoreBusy as exc:
        _fail(str(exc), code=EXIT_BUSY)
    if as_json:
        _print_json(report.model_dump(mode="json"))
    else:
        _print_ingest(report)
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _print_ingest(report: IngestReport) -> None:
    for d in report.documents:
        if d.status == "failed":
            typer.echo(f"failed     {d.error}", err=True)
        elif d.status != "unchanged":
            typer.echo(f"{d.status:<10} {d.doc_id}  ({d.chunks} chunks)  {d.title}")
    typer.echo(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{report.failed} failed, {report.removed} removed; {report.chunks} chunks ({report.embedded} encoded, "
               f"the rest from the embedding cache) in {report.seconds:.1f} s")
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)} files of unsupported types, e.g. {report.skipped[0]}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None, catalog: CatalogOpt = None,
    top_k: TopKOpt = None,
    sources: SourcesOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    doc_ids: DocsOpt = None,
    retrieval: RetrievalOpt = None,
    answerer: AnswererOpt = None,
    llm_model: LlmModelOpt = None,
    llm_base_url: LlmUrlOpt = None,
    llm_api_key: LlmKeyOpt = None,
    llm_mode: LlmModeOpt = None,
    strict: StrictOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the reports, with its sources. Exit 4 when the LLM fails."""
    from ..read.generate import LLMError

    filters = _filters(sources, since, until, doc_ids)
    assistant = _assistant(store, config, retrieval_mode=retrieval, chroma_url=chroma_url, catalog_url=catalog,
                           **_llm_settings(answerer, llm_model, llm_base_url, llm_api_key, strict, llm_mode))
    try:
        answer = assistant.ask(question, top_k=top_k, filters=filters)
    except ValueError as exc:
        _fail(str(exc), code=2)
    except LLMError as exc:
        _fail(str(exc), code=EXIT_LLM)
    if as_json:
        _print_json(answer.model_dump(mode="json"))
    else:
        typer.echo(format_answer(answer))


def _filters(sources: list[str] | None, since: str | None, until: str | None, doc_ids: list[str] | None):
    """The --source/--since/--until/--doc options as Filters; exit 2 naming the option that is wrong."""
    from pydantic import ValidationError

    from ..models import Filters

    try:
        return Filters(sources=sources or [], since=since, until=until, doc_ids=doc_ids or [])
    except ValidationError as exc:
        _fail("; ".join(f"--{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()), code=2)


@app.command()
def timeline(
    topic: Annotated[str, typer.Argument(help="What the timeline is about, in quotes.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None, catalog: CatalogOpt = None,
    top_k: TopKOpt = None,
    sources: SourcesOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    doc_ids: DocsOpt = None,
    as_json: JsonOpt = False,
    fmt: Annotated[str, typer.Option("--format", help="text, json, markdown or csv (what to paste into a draft).")]
    = "text",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write it to this file instead.")] = None,
) -> None:
    """The dated events the reports state about a topic, in the order they happened, each cited."""
    from ..read.timeline_export import to_csv, to_markdown

    fmt = "json" if as_json else fmt
    if fmt not in ("text", "json", "markdown", "csv"):
        _fail(f"--format: {fmt!r} is not one of text, json, markdown, csv", code=2)
    result = _overview("timeline", topic, store, config, (chroma_url, catalog), top_k,
                       _filters(sources, since, until, doc_ids))
    text = {"json": lambda: json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2),
            "markdown": lambda: to_markdown(result), "csv": lambda: to_csv(result),
            "text": lambda: format_timeline(result)}[fmt]()
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{len(result.events)} events written to {out}", err=True)
    else:
        typer.echo(text.rstrip("\n"))


def _overview(method: str, text: str, store: Path | None, config: Path | None, backends: tuple[str | None, str | None],
              top_k: int | None, filters):
    """Assistant.timeline or Assistant.compare; exit 2 on an empty topic or question."""
    assistant = _assistant(store, config, chroma_url=backends[0], catalog_url=backends[1])
    try:
        return getattr(assistant, method)(text, filters=filters, top_k=top_k)
    except ValueError as exc:
        _fail(str(exc), code=2)


def format_timeline(result) -> str:
    if not result.events and not result.background and not result.expected:
        return f"The reports state no dated events about {result.topic!r}."
    lines = [] if result.events else [f"The reports state no dated events about {result.topic!r} in its own span."]
    for heading, rows in (("", result.events), ("Background", result.background), ("Expected", result.expected)):
        if heading and rows:
            lines += ["", f"{heading}:"]
        for i, e in enumerate(rows, start=1):
            marks = "".join(f"[{c.marker}]" for c in e.citations)
            how = f"  ({e.date_note})" if e.date_note else ""
            lines.append(f"{i:>2}. {e.date:<10}  {e.text} {marks}{how}")
            outlets = "; ".join(", ".join(x for x in (c.source or c.title, c.date) if x) for c in e.citations)
            lines.append(f"    {outlets}")
            for c in e.conflicts:
                lines.append(f"    ! another report dates this {c.date} (event {c.event + 1})")
    return "\n".join(lines)


@app.command()
def compare(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None, catalog: CatalogOpt = None,
    top_k: TopKOpt = None,
    sources: SourcesOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    doc_ids: DocsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who said what: for each outlet, its sentence that best answers the question, or not covered."""
    result = _overview("compare", question, store, config, (chroma_url, catalog), top_k,
                       _filters(sources, since, until, doc_ids))
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    lines = []
    for o in result.outlets:
        if not o.covered:
            lines.append(f"{o.outlet}: not covered")
            continue
        c = o.citation
        flag = f"  <- differs ({o.value})" if o.differs else (f"  ({o.value})" if o.value else "")
        lines += [f"{o.outlet} ({c.date or 'undated'}): {o.text} [{c.marker}]{flag}",
                  f"    {c.title}, {c.url or c.path}  chars {c.start}-{c.end}"]
    if len(result.values) > 1:
        lines += ["", "Outlets differ: " + "; ".join(
            f"{v.value} {''.join(f'[{m}]' for m in v.markers)}" for v in result.values)]
    typer.echo("\n".join(lines))


def format_answer(answer: Answer) -> str:
    lines = []
    if answer.low_confidence:
        lines += ["Low confidence: this may not answer the question: check the sources.", ""]
    lines += [answer.answer, ""]
    if not answer.abstained:
        lines += [f"Confidence: {answer.confidence:.2f}", ""]
    unsupported = [s for s in answer.sentences if not s.supported]
    if unsupported:
        lines.append("Not supported by the reports:")
        lines += [f"  - {s.text} ({'; '.join(s.flags)})" for s in unsupported]
        lines.append("")
    if answer.citations:
        lines.append("Sources:")
        for c in answer.citations:
            where = ", ".join(x for x in (c.source, c.date) if x)
            check = "" if c.supported and not c.repaired else (" (moved here by the verifier)" if c.supported
                                                                 else " (does NOT support the sentence)")
            lines.append(f"[{c.marker}] {c.title}" + (f" ({where})" if where else "") + check)
            lines.append(f"    \"{c.quote}\"")
            lines.append(f"    {c.url or c.path}  chars {c.start}-{c.end}")
    elif answer.retrieved:
        lines.append("Closest passages (they do not answer the question):")
        for p in answer.retrieved[:3]:
            lines.append(f"  - {p.title}: {' '.join(p.text.split())[:160]}...")
    return "\n".join(lines).rstrip()

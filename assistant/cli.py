"""The `assistant` command: a thin layer over `Assistant`. Heavy libraries are imported inside the
commands, so that `assistant --help` answers at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from .core import Assistant
    from .models import Answer, IngestReport

app = typer.Typer(help="Report Assistant: answers about your reports, every sentence cited.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
docs_app = typer.Typer(help="List, show and remove the documents in a store.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
eval_app = typer.Typer(help="Run evaluation sets, compare runs.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="Store folder [env ASSISTANT_STORE].")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML settings file [env ASSISTANT_CONFIG].")]
ChromaOpt = Annotated[Optional[str], typer.Option(
    "--chroma-url", help="Keep the vectors in this Chroma server, http[s]://HOST[:PORT] [env ASSISTANT_CHROMA_URL].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TopKOpt = Annotated[Optional[int], typer.Option("--top-k", min=1, max=100, help="Passages to retrieve.")]
SourcesOpt = Annotated[Optional[list[str]], typer.Option("--source", help="Only this outlet (repeatable).")]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Only reports dated on/after YYYY[-MM[-DD]].")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Only reports dated up to YYYY[-MM[-DD]].")]
ResamplesOpt = Annotated[Optional[int], typer.Option(
    "--resamples", min=0, help="Bootstrap resamples for the 95% intervals [10000]; 0: none.")]
DocsOpt = Annotated[Optional[list[str]], typer.Option("--doc", help="Only this document (repeatable).")]
RetrievalOpt = Annotated[Optional[str], typer.Option(
    "--retrieval", help="hybrid (default) | dense | bm25 [setting retrieval_mode].")]

AnswererOpt = Annotated[Optional[str], typer.Option(
    "--answerer", help="extractive (default, no LLM) | openai | ollama | llamacpp | auto (Ollama when it runs here "
                       "with a model, else extractive) [setting answerer].")]
LlmModelOpt = Annotated[Optional[str], typer.Option(
    "--llm-model", help="Model name (openai, ollama) or .gguf path (llamacpp) [setting llm_model].")]
LlmUrlOpt = Annotated[Optional[str], typer.Option(
    "--llm-base-url", help="LLM server URL, e.g. http://127.0.0.1:8000/v1 [setting llm_base_url].")]
LlmKeyOpt = Annotated[Optional[str], typer.Option(
    "--llm-api-key", help="API key for openai [setting llm_api_key, else $OPENAI_API_KEY].")]
LlmModeOpt = Annotated[Optional[str], typer.Option(
    "--llm-mode", help="write (the LLM writes, checked) | select (it picks report sentences) [setting llm_mode].")]
StrictOpt = Annotated[Optional[bool], typer.Option(
    "--strict/--no-strict", help="Remove answer sentences no passage supports [setting strict].")]

EXIT_PARTIAL = 3
EXIT_LLM = 4
EXIT_BUSY = 5  # another process is writing to the store


def _llm_settings(answerer: str | None, llm_model: str | None, llm_base_url: str | None,
                  llm_api_key: str | None, strict: bool | None, llm_mode: str | None = None) -> dict:
    return {"answerer": answerer, "llm_model": llm_model, "llm_base_url": llm_base_url,
            "llm_api_key": llm_api_key, "strict": strict, "llm_mode": llm_mode}


def _assistant(store: Path | None, config: Path | None, answers: bool = True, **overrides: object) -> Assistant:
    """The Assistant of a command; `answers`: the command answers questions, so its reader is loaded (and a
    reader that cannot load is reported) before any work."""
    from .core import Assistant
    from .index.store import StoreMismatch, StoreUnavailable
    from .read.generate import LLMError
    from .settings import load_settings

    try:
        settings = load_settings(config, store=store, **overrides)
        assistant = Assistant(settings=settings)
        assistant.store  # open now, so that a mismatched store is reported here  # noqa: B018
        if answers:
            assistant.answerer  # noqa: B018
        # A missing model or URL is reported before any work (auto has none to miss: it falls back).
        if settings.answerer not in ("extractive", "auto"):
            assistant.llm_answerer(settings.answerer)
    except (FileNotFoundError, StoreMismatch, StoreUnavailable, ValueError, LLMError) as exc:
        _fail(str(exc), code=2)
    return assistant


def _drop_if_built_differently(store: Path, config: Path | None) -> None:
    """An evaluation's own store is derived data: one built with other settings is built again."""
    import shutil

    from .core import Assistant
    from .index.store import StoreMismatch
    from .settings import load_settings

    try:
        Assistant(settings=load_settings(config, store=store)).store  # noqa: B018
    except StoreMismatch as exc:
        typer.echo(f"rebuilding the evaluation store: {exc}", err=True)
        shutil.rmtree(store)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive): .txt .md .html .pdf .docx "
                                                     ".jsonl")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Add reports to the store, or update the ones that changed. Exit 3 when some files failed."""
    from .index.lock import StoreBusy

    assistant = _assistant(store, config, answers=False, chroma_url=chroma_url)
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
    chroma_url: ChromaOpt = None,
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
    from .read.generate import LLMError

    filters = _filters(sources, since, until, doc_ids)
    assistant = _assistant(store, config, retrieval_mode=retrieval, chroma_url=chroma_url,
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

    from .models import Filters

    try:
        return Filters(sources=sources or [], since=since, until=until, doc_ids=doc_ids or [])
    except ValidationError as exc:
        _fail("; ".join(f"--{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()), code=2)


@app.command()
def timeline(
    topic: Annotated[str, typer.Argument(help="What the timeline is about, in quotes.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None,
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
    from .read.timeline import to_csv, to_markdown

    fmt = "json" if as_json else fmt
    if fmt not in ("text", "json", "markdown", "csv"):
        _fail(f"--format: {fmt!r} is not one of text, json, markdown, csv", code=2)
    result = _overview("timeline", topic, store, config, chroma_url, top_k, _filters(sources, since, until, doc_ids))
    text = {"json": lambda: json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2),
            "markdown": lambda: to_markdown(result.topic, result.events), "csv": lambda: to_csv(result.events),
            "text": lambda: format_timeline(result)}[fmt]()
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{len(result.events)} events written to {out}", err=True)
    else:
        typer.echo(text.rstrip("\n"))


def _overview(method: str, text: str, store: Path | None, config: Path | None, chroma_url: str | None,
              top_k: int | None, filters):
    """Assistant.timeline or Assistant.compare; exit 2 on an empty topic or question."""
    assistant = _assistant(store, config, chroma_url=chroma_url)
    try:
        return getattr(assistant, method)(text, filters=filters, top_k=top_k)
    except ValueError as exc:
        _fail(str(exc), code=2)


def format_timeline(result) -> str:
    if not result.events:
        return f"The reports state no dated events about {result.topic!r}."
    lines = []
    for i, e in enumerate(result.events, start=1):
        marks = "".join(f"[{c.marker}]" for c in e.citations)
        how = "" if e.date_source == "stated" else f"  ({e.date_note})"
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
    chroma_url: ChromaOpt = None,
    top_k: TopKOpt = None,
    sources: SourcesOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    doc_ids: DocsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who said what: for each outlet, its sentence that best answers the question, or not covered."""
    result = _overview("compare", question, store, config, chroma_url, top_k, _filters(sources, since, until, doc_ids))
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
    from .index.lock import StoreBusy

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


@app.command()
def serve(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on. Keep 127.0.0.1 unless you mean it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    auth: Annotated[Optional[str], typer.Option(
        "--auth", help="USER:PASS required to open the chat and call the API [env ASSISTANT_AUTH]; needed for "
                       "any --host but loopback.")] = None,
    auth_file: Annotated[Optional[Path], typer.Option(
        "--auth-file", help="Users, one USER:PASSWORD per line; a password may be hashed (assistant "
                            "hash-password).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=0, help="Questions answered at once; 0: two per CPU core [setting workers].")] = None,
    answerer: AnswererOpt = None,
    llm_model: LlmModelOpt = None,
    llm_base_url: LlmUrlOpt = None,
    llm_api_key: LlmKeyOpt = None,
    llm_mode: LlmModeOpt = None,
    strict: StrictOpt = None,
) -> None:
    """Start the chat in the browser (Gradio) and the HTTP JSON API (/api/docs) over the store."""
    import os

    from .index.lock import StoreServed
    from .serve.server import serve as run_server
    from .serve.users import Users

    users = None
    try:
        if auth_file:
            try:
                lines = auth_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ValueError(f"--auth-file {auth_file}: cannot read it ({exc.strerror or exc})") from None
            users = Users.parse(lines, f"--auth-file {auth_file}")
        elif auth or os.environ.get("ASSISTANT_AUTH"):
            users = Users.parse([auth or os.environ["ASSISTANT_AUTH"]], "--auth")
    except ValueError as exc:
        _fail(str(exc), code=2)
    if host not in ("127.0.0.1", "localhost", "::1") and not users:
        _fail(f"--host {host} opens the chat to the network: set --auth USER:PASS (or --auth-file, "
              "ASSISTANT_AUTH) so that only you can read your reports", code=2)
    assistant = _assistant(store, config, chroma_url=chroma_url, workers=workers,
                           **_llm_settings(answerer, llm_model, llm_base_url, llm_api_key, strict, llm_mode))
    try:
        run_server(assistant, host=host, port=port, users=users)
    except StoreServed as exc:
        _fail(f"{exc}; stop it first, or serve another --store", code=EXIT_BUSY)


@app.command("hash-password")
def hash_password_command(
    user: Annotated[str, typer.Argument(help="The user name.")],
) -> None:
    """Print a USER:HASH line for --auth-file; the password is read from the terminal (or stdin)."""
    import getpass

    from .serve.users import hash_password

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password or ":" in user or not user:
        _fail("a non-empty USER without ':' and a non-empty password are needed", code=2)
    typer.echo(f"{user}:{hash_password(password)}")


def _refuse_if_served(assistant: Assistant) -> None:
    """A running server is the store's writer: a CLI write beside it is refused, never done behind its back."""
    from .index.lock import served_by

    server = served_by(Path(assistant.settings.store))
    if server:
        url = server.rsplit(" at ", 1)[-1]
        _fail(f"the store {assistant.settings.store} is served by `assistant serve` ({server}): add or remove "
              f"reports through it (curl -F files=@REPORT {url}api/documents; curl -X DELETE "
              f"{url}api/documents/ID) or stop it first", code=EXIT_BUSY)


@eval_app.command("run")
def eval_run(
    set_path: Annotated[Path, typer.Argument(metavar="SET.jsonl", help="Evaluation set (evals/README.md).")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None,
    ingest_paths: Annotated[Optional[list[Path]], typer.Option(
        "--ingest", help="Ingest these first [the corpus the set declares in SET.toml].")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, max=100)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder [runs/SET-TIME].")] = None,
    answerer: AnswererOpt = None,
    llm_model: LlmModelOpt = None,
    llm_base_url: LlmUrlOpt = None,
    llm_api_key: LlmKeyOpt = None,
    llm_mode: LlmModeOpt = None,
    strict: StrictOpt = None,
    retrieval: RetrievalOpt = None,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Ask the set N times: the spread of latency, "
                                                                 "and whether the answers stay the same.")] = 1,
    resamples: ResamplesOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Ask every question of a set; write per_question.jsonl, summary.json and report.md/.html."""
    import time

    from .evaluation.report import write_report
    from .evaluation.run import declared_corpus, eval_store, load_set, run_eval

    try:
        cases = load_set(set_path)[:limit]
        corpus = ingest_paths or declared_corpus(set_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    # Without --store, the corpus gets a store of its own: the run is reproducible and the
    # journalist's library is neither read nor changed. A --store named without --ingest is used
    # as it is, and gets the declared corpus only when it is empty.
    collection = None
    if store is None and corpus:
        store = eval_store(corpus)
        _drop_if_built_differently(store, config)
        if chroma_url:  # its vectors go to a collection of their own, never into the library's
            collection = f"eval-{store.name}"[:60]
    assistant = _assistant(store, config, retrieval_mode=retrieval, chroma_url=chroma_url, chroma_collection=collection,
                           **_llm_settings(answerer, llm_model, llm_base_url, llm_api_key, strict, llm_mode))
    progress = not quiet and sys.stderr.isatty()
    if corpus and (ingest_paths or not assistant.documents()):
        report = assistant.ingest(corpus, progress=progress)
        for d in report.documents:
            if d.status == "failed":
                typer.echo(f"failed     {d.error}", err=True)
    if not assistant.documents():
        _fail(f"the store {assistant.settings.store} holds no documents: pass --ingest PATH, or declare "
              f"the set's corpus in {set_path.with_suffix('.toml')} (evals/README.md)", code=2)
    typer.echo(f"store: {assistant.settings.store} ({len(assistant.documents())} documents)", err=True)
    out = out or Path("runs") / f"{set_path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    from .read.generate import LLMError

    try:
        summary = run_eval(assistant, cases, out, top_k=top_k, progress=progress, set_path=str(set_path),
                           corpus=corpus, resamples=_resamples(resamples), repeat=repeat)
    except LLMError as exc:
        _fail(str(exc), code=EXIT_LLM)
    md, html_path = write_report(out)
    from .evaluation.run import HEADLINE, headline

    for key in HEADLINE:
        value, bounds = headline(summary, key), summary["intervals"].get(key)
        shown = "n/a" if value is None else f"{value:.3f}" + (f"  [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")
        typer.echo(f"{key:<32} {shown}")
    typer.echo(f"latency p50 {summary['latency_ms']['p50']:.0f} ms; report: {html_path}")
    if "repeat" in summary:
        r = summary["repeat"]
        same = "identical in every pass" if r["identical_answers"] else f"differ for {', '.join(r['differing'])}"
        typer.echo(f"{r['passes']} passes: latency p50 {', '.join(f'{x:.0f}' for x in r['latency_p50_ms'])} ms "
                   f"(spread {r['latency_p50_spread_ms']:.0f} ms); answers {same}")


def _resamples(value: int | None) -> int:
    from .evaluation.stats import RESAMPLES

    return RESAMPLES if value is None else value


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="The reference run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The new run folder.")],
    fail_on_drop: Annotated[Optional[float], typer.Option(
        "--fail-on-drop", help="Exit 1 when a headline metric drops significantly (its 95% interval excludes 0) "
                               "by more than this many points.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Also write report.html there: a forest plot of the differences and every question whose "
                      "outcome changed, both answers side by side.")] = None,
    resamples: ResamplesOpt = None,
) -> None:
    """Compare two runs metric by metric, with paired 95% intervals and tests; list the questions whose
    outcome changed."""
    from .evaluation.report import compare_runs, write_comparison

    try:
        table, failed = compare_runs(run_a, run_b, fail_on_drop, _resamples(resamples))
        if out:
            typer.echo(f"report: {write_comparison(run_a, run_b, out, fail_on_drop, _resamples(resamples))}",
                       err=True)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    typer.echo(table)
    if failed:
        raise typer.Exit(1)


@eval_app.command("sweep")
def eval_sweep(
    set_path: Annotated[Path, typer.Argument(metavar="SET.jsonl", help="Evaluation set (its TOML: the corpus).")],
    grid: Annotated[list[str], typer.Option(
        "--grid", help="NAME=V1,V2,...: a setting and the values to try (repeatable; every combination runs).")],
    config: ConfigOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Sweep folder [runs/SET-sweep-TIME].")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    resamples: ResamplesOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run a set under every combination of settings: one run folder each, and sweep.md/.html/.png with every
    headline figure and its 95% interval, and answer quality against latency."""
    from .evaluation.sweep import run_sweep
    from .index.store import StoreMismatch, StoreUnavailable
    from .read.generate import LLMError

    try:
        page = run_sweep(set_path, grid, out, config=config, limit=limit, resamples=_resamples(resamples),
                         progress=not quiet and sys.stderr.isatty())
    except (OSError, ValueError, StoreMismatch, StoreUnavailable) as exc:
        _fail(str(exc), code=2)
    except LLMError as exc:
        _fail(str(exc), code=EXIT_LLM)
    typer.echo((page.parent / "sweep.md").read_text(encoding="utf-8"))
    typer.echo(f"sweep: {page}", err=True)


@eval_app.command("import")
def eval_import(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="multihop | dragonball | squad | beir")],
    src: Annotated[Path, typer.Argument(help="The file (or BEIR folder) to convert.")],
    out: Annotated[Path, typer.Option("--out", help="The evaluation set to write (JSONL).")],
    docs_out: Annotated[Optional[Path], typer.Option(
        "--docs-out", help="squad, beir: also write their documents as JSONL, ready to ingest.")] = None,
) -> None:
    """Convert an evaluation set from a format evaluators already have."""
    from .evaluation import importers

    if fmt not in importers.FORMATS:
        _fail(f"unknown format {fmt!r}: one of {', '.join(importers.FORMATS)}", code=2)
    try:
        cases = importers.FORMATS[fmt](src)
        importers.write_jsonl(cases, out)
        if docs_out:
            documents = {"squad": importers.squad_documents, "beir": importers.beir_documents}.get(fmt)
            if documents is None:
                _fail(f"--docs-out: the {fmt} format carries no documents", code=2)
            importers.write_jsonl(documents(src), docs_out)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    typer.echo(f"{len(cases)} questions ({sum(not c['answerable'] for c in cases)} unanswerable) -> {out}")


@eval_app.command("export")
def eval_export(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="ragas")],
    run: Annotated[Path, typer.Argument(help="A run folder (assistant eval run --out).")],
    out: Annotated[Path, typer.Option("--out", help="The file to write (JSONL).")],
) -> None:
    """Export a run for scoring elsewhere: ragas rows are question, contexts, answer, ground_truth."""
    from .evaluation import importers

    if fmt != "ragas":
        _fail(f"unknown export format {fmt!r}: this version has 'ragas'", code=2)
    try:
        rows = importers.export_ragas(run / "per_question.jsonl")
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    importers.write_jsonl(rows, out)
    typer.echo(f"{len(rows)} rows -> {out}")


def main() -> None:
    app()

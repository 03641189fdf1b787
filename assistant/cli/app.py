"""What the `assistant` command's groups share: the Typer apps, the options, building an Assistant from
them, and how errors end the command (exit codes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from ..core import Assistant

app = typer.Typer(help="Report Assistant: answers about your reports, every sentence cited.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
docs_app = typer.Typer(help="List, show and remove the documents in a store.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
store_app = typer.Typer(help="Move a library between a store folder and PostgreSQL plus a Chroma server.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")
eval_app = typer.Typer(help="Run evaluation sets, compare runs.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="Store folder [env ASSISTANT_STORE].")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML settings file [env ASSISTANT_CONFIG].")]
ChromaOpt = Annotated[Optional[str], typer.Option(
    "--chroma-url", help="Keep the vectors in this Chroma server, http[s]://HOST[:PORT] [env ASSISTANT_CHROMA_URL].")]
CatalogOpt = Annotated[Optional[str], typer.Option(
    "--catalog", help="Keep the catalog in this PostgreSQL database, postgresql://USER@HOST[:PORT]/DB, so that "
                      "several servers share one library [env ASSISTANT_CATALOG_URL].")]
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
    from ..core import Assistant
    from ..index.pg_catalog import CatalogUnavailable
    from ..index.store import StoreMismatch, StoreUnavailable
    from ..read.generate import LLMError
    from ..settings import load_settings

    try:
        settings = load_settings(config, store=store, **overrides)
        assistant = Assistant(settings=settings)
        assistant.store  # open now, so that a mismatched store is reported here  # noqa: B018
        if answers:
            assistant.answerer  # noqa: B018
        # A missing model or URL is reported before any work (auto has none to miss: it falls back).
        if settings.answerer not in ("extractive", "auto"):
            assistant.llm_answerer(settings.answerer)
    except (FileNotFoundError, StoreMismatch, StoreUnavailable, CatalogUnavailable, ValueError, LLMError) as exc:
        _fail(str(exc), code=2)
    return assistant


def _drop_if_built_differently(store: Path, config: Path | None) -> None:
    """An evaluation's own store is derived data: one built with other settings is built again."""
    import shutil

    from ..core import Assistant
    from ..index.store import StoreMismatch
    from ..settings import load_settings

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


def _refuse_if_served(assistant: Assistant) -> None:
    """A running server is the store's writer: a CLI write beside it is refused, never done behind its back."""
    from ..index.lock import served_by

    if assistant.settings.catalog_url:  # a shared catalog: its writers take turns by the advisory lock
        return
    server = served_by(Path(assistant.settings.store))
    if server:
        url = server.rsplit(" at ", 1)[-1]
        _fail(f"the store {assistant.settings.store} is served by `assistant serve` ({server}): add or remove "
              f"reports through it (curl -F files=@REPORT {url}api/documents; curl -X DELETE "
              f"{url}api/documents/ID) or stop it first", code=EXIT_BUSY)

"""`assistant serve` and `assistant hash-password`: the chat and the HTTP API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (
    EXIT_BUSY,
    AnswererOpt,
    CatalogOpt,
    ChromaOpt,
    ConfigOpt,
    LlmKeyOpt,
    LlmModelOpt,
    LlmModeOpt,
    LlmUrlOpt,
    StoreOpt,
    StrictOpt,
    _assistant,
    _fail,
    _llm_settings,
    app,
)


@app.command()
def serve(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None, catalog: CatalogOpt = None,
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

    from ..index.lock import StoreServed
    from ..serve.server import serve as run_server
    from ..serve.users import Users

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
    assistant = _assistant(store, config, chroma_url=chroma_url, catalog_url=catalog, workers=workers,
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

    from ..serve.users import hash_password

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password or ":" in user or not user:
        _fail("a non-empty USER without ':' and a non-empty password are needed", code=2)
    typer.echo(f"{user}:{hash_password(password)}")

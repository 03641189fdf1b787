"""The LLMs behind the generative answerers, built only from what the settings name, and what answerer "auto"
finds on this machine.

openai and ollama are llama-index's own integrations; llamacpp runs a GGUF file in this process through
xllamacpp's prebuilt llama.cpp (llamacpp.py). Nothing remote is called unless the user gave its URL, and
nothing falls back to OpenAI. Nothing heavy is imported here: the CLI imports LLMError for every command.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.request
from pathlib import Path

from ..settings import Settings

GENERATIVE = ("openai", "ollama", "llamacpp")
OLLAMA_URL = "http://127.0.0.1:11434"
# Long enough for a running Ollama on this machine to list its models, short enough that an absent one is not
# noticed (a closed port is refused at once; the timeout is for something there that does not answer).
PROBE_SECONDS = 0.5


class LLMError(RuntimeError):
    """The LLM is misconfigured, missing, or its server failed: the message says which."""


def make_llm(settings: Settings):
    """The llama-index LLM that `settings.answerer` names, configured from the llm_* settings."""
    name, model = settings.answerer, settings.llm_model
    if name not in GENERATIVE:
        raise LLMError(f"answerer {name!r} is not an LLM: one of {', '.join(GENERATIVE)}")
    if not model:
        raise LLMError(f"answerer {name!r} needs a model: --llm-model (ASSISTANT_LLM_MODEL)"
                       + (", the path of a .gguf file" if name == "llamacpp" else ""))
    if name == "openai":
        if not settings.llm_base_url:
            # Named on purpose: a journalist's questions go to no server the user did not choose.
            raise LLMError("answerer 'openai' needs the server's URL: --llm-base-url (ASSISTANT_LLM_BASE_URL), "
                           "e.g. http://127.0.0.1:8000/v1, or https://api.openai.com/v1 for OpenAI itself")
        from llama_index.llms.openai_like import OpenAILike

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else os.environ.get("OPENAI_API_KEY")
        return OpenAILike(model=model, api_base=settings.llm_base_url, api_key=key or "none", is_chat_model=True,
                          temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,
                          context_window=settings.llm_context_window, timeout=settings.llm_timeout, max_retries=1)
    if name == "ollama":
        from llama_index.llms.ollama import Ollama

        return Ollama(model=model, base_url=settings.llm_base_url or OLLAMA_URL,
                      temperature=settings.llm_temperature, request_timeout=settings.llm_timeout,
                      context_window=settings.llm_context_window,
                      additional_kwargs={"num_predict": settings.llm_max_tokens})
    return _llamacpp(settings, Path(model))


def _llamacpp(settings: Settings, path: Path):
    if not path.is_file():
        raise LLMError(f"answerer 'llamacpp': no model file at {path} (--llm-model takes a .gguf file's path)")
    # llama.cpp's OpenMP threads spin while they wait; with the encoder or another process on the same cores
    # that turns a half-second answer into half a minute (measured here). Passive waiting avoids it. OpenMP
    # reads it when xllamacpp's library is loaded, so it is set before the import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xllamacpp  # noqa: F401  (only to say what is missing)
    except ImportError:
        raise LLMError("answerer 'llamacpp' needs the optional extra: pip install -e '.[llamacpp]'") from None
    from .llamacpp import LlamaCppError, XLlamaCpp

    try:
        return XLlamaCpp(model_path=str(path), temperature=settings.llm_temperature,
                         max_tokens=settings.llm_max_tokens, context_window=settings.llm_context_window)
    except LlamaCppError as exc:
        raise LLMError(f"answerer 'llamacpp': {exc}") from exc


def resolve_answerer(settings: Settings) -> tuple[str, Settings]:
    """What answerer "auto" stands for here: ("ollama", the settings naming its model) when Ollama answers at
    llm_base_url (else on 127.0.0.1:11434) and has a chat model, the one llm_model names or else the first it
    lists; otherwise ("extractive", the settings). The returned settings' answerer is the name."""
    url = (settings.llm_base_url or OLLAMA_URL).rstrip("/")
    models = ollama_chat_models(url)
    if settings.llm_model:
        models = [m for m in models if m in (settings.llm_model, f"{settings.llm_model}:latest")]
    if not models:
        return "extractive", settings.model_copy(update={"answerer": "extractive"})
    return "ollama", settings.model_copy(update={"answerer": "ollama", "llm_model": models[0], "llm_base_url": url})


def ollama_chat_models(url: str) -> list[str]:
    """The chat models that Ollama at `url` lists, in its order (embedding models left out); [] when nothing
    there answers as Ollama within PROBE_SECONDS."""
    # No proxy: one from the environment would carry a loopback request off the machine.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/tags", timeout=PROBE_SECONDS) as response:
            listed = json.load(response)
    except (OSError, ValueError, http.client.HTTPException):  # refused, timed out, not HTTP, not JSON
        return []
    models = listed.get("models") if isinstance(listed, dict) else None
    return [m["name"] for m in models or [] if isinstance(m, dict) and isinstance(m.get("name"), str)
            and not _embedding_model(m)]


def _embedding_model(entry: dict) -> bool:
    """Ollama lists embedding models with the others: their names say "embed" (nomic-embed-text,
    mxbai-embed-large) or they are BERTs (all-minilm, bge-m3)."""
    details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
    families = [details.get("family"), *(details.get("families") or [])]
    return "embed" in entry["name"].lower() or any("bert" in str(f).lower() for f in families if f)

"""assistant/read/llms.py: Answerer "auto": Ollama on this machine when it runs with a chat model, else extractive.
Against the scripted Ollama of tests/fake_ollama.py: real HTTP on loopback, llama-index's real Ollama client."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from assistant import Assistant
from assistant.read.llms import OLLAMA_URL, resolve_answerer
from assistant.settings import Settings

from .fake_ollama import FakeOllama
from .fake_openai import FakeOpenAI
from .test_generate import FREIGHT, number_with

MODELS = {"nomic-embed-text:latest": "nomic-bert", "all-minilm:latest": "bert", "llama3.2:latest": "llama",
          "qwen2.5:0.5b": "qwen2"}


@pytest.fixture
def ollama():
    with FakeOllama(MODELS) as server:
        server.reply = lambda m: f"Satellite images showed 73 freight cars at Tumangang [{number_with(m, '73')}]."
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def silent_server() -> Iterator[str]:
    """Something on loopback that takes connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def auto(url: str, **more) -> tuple[str, Settings]:
    return resolve_answerer(Settings(answerer="auto", llm_base_url=url, **more))


def test_auto_picks_the_first_chat_model_ollama_lists(ollama):
    name, settings = auto(ollama.root_url)
    assert name == settings.answerer == "ollama"
    assert settings.llm_model == "llama3.2:latest" and settings.llm_base_url == ollama.root_url  # embedders skipped
    assert [r["_path"] for r in ollama.requests] == ["/api/tags"]  # one request, nothing else


def test_auto_takes_the_model_the_settings_name_if_ollama_has_it(ollama):
    assert auto(ollama.root_url, llm_model="qwen2.5:0.5b")[1].llm_model == "qwen2.5:0.5b"
    assert auto(ollama.root_url, llm_model="llama3.2")[1].llm_model == "llama3.2:latest"  # Ollama's default tag
    name, settings = auto(ollama.root_url, llm_model="mistral")
    assert name == settings.answerer == "extractive"


def test_auto_falls_back_to_extractive_without_a_chat_model():
    for models in ({"nomic-embed-text:latest": "nomic-bert", "all-minilm:latest": "bert"}, {}):
        with FakeOllama(models) as server:
            assert auto(server.root_url)[0] == "extractive"


def test_auto_falls_back_to_extractive_at_once_when_no_ollama_answers():
    started = time.perf_counter()
    assert auto(f"http://127.0.0.1:{free_port()}")[0] == "extractive"  # nothing listens: refused
    assert time.perf_counter() - started < 0.5
    with FakeOpenAI() as other:  # something else listens: no /api/tags
        assert auto(other.root_url)[0] == "extractive"
    with silent_server() as url:
        started = time.perf_counter()
        assert auto(url)[0] == "extractive"
        assert time.perf_counter() - started < 2  # the probe's short timeout, not the LLM's 120 s


def test_auto_looks_on_loopback_only_and_past_any_proxy(ollama, monkeypatch):
    assert OLLAMA_URL == "http://127.0.0.1:11434"  # where it looks unless llm_base_url says otherwise
    with FakeOpenAI() as proxy:
        monkeypatch.setenv("http_proxy", proxy.root_url)
        monkeypatch.setenv("HTTP_PROXY", proxy.root_url)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert auto(ollama.root_url)[0] == "ollama"
        assert not proxy.requests


def auto_assistant(assistant, url: str) -> Assistant:
    """The session's store and model, with answerer auto looking at `url`."""
    a = Assistant(settings=assistant.settings.model_copy(update={"answerer": "auto", "llm_base_url": url}))
    for part in ("embed_model", "store", "retriever", "answerer", "verifier", "chunker"):
        a.__dict__[part] = getattr(assistant, part)
    return a


def test_auto_answers_with_ollama_and_the_answer_says_so(assistant, ollama):
    a = auto_assistant(assistant, ollama.root_url)
    answer = a.ask(FREIGHT)
    assert answer.answerer == "ollama" and answer.sentences[0].supported and "73" in answer.answer
    [chat] = [r for r in ollama.requests if r["_path"] == "/api/chat"]
    assert chat["model"] == "llama3.2:latest" and chat["stream"] is False
    *deltas, streamed = a.ask_stream(FREIGHT)
    assert len(deltas) > 3 and streamed.answerer == "ollama"
    assert a.ask(FREIGHT, answerer="extractive").answerer == "extractive"
    assert [r["_path"] for r in ollama.requests].count("/api/tags") == 1  # looked for once per Assistant


def test_auto_answers_extractively_when_no_ollama_runs(assistant):
    answer = auto_assistant(assistant, f"http://127.0.0.1:{free_port()}").ask(FREIGHT)
    assert answer.answerer == "extractive" and not answer.abstained and "73" in answer.answer


def test_the_chat_menu_lists_what_auto_found(assistant, ollama):
    from assistant.serve.ui import answerer_choices

    found = auto_assistant(assistant, ollama.root_url)
    assert answerer_choices(found) == [("extractive", "extractive"), ("ollama: llama3.2:latest", "auto")]
    assert answerer_choices(auto_assistant(assistant, f"http://127.0.0.1:{free_port()}")) == [
        ("extractive", "extractive")]
    assert answerer_choices(assistant) == [("extractive", "extractive")]
    configured = Assistant(settings=assistant.settings.model_copy(update={"answerer": "openai"}))
    assert answerer_choices(configured) == [("extractive", "extractive"), ("openai", "openai")]
    import gradio as gr

    from assistant.serve.ui import create_app

    [menu] = [b for b in create_app(found).blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Answerer"]
    assert menu.choices == [("extractive", "extractive"), ("ollama: llama3.2:latest", "auto")] and menu.value == "auto"


def test_cli_ask_with_the_auto_answerer(assistant, ollama):
    from typer.testing import CliRunner

    from assistant.cli import app

    args = ["ask", FREIGHT, "--store", str(assistant.settings.store), "--answerer", "auto", "--json"]
    result = CliRunner().invoke(app, [*args, "--llm-base-url", ollama.root_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["answerer"] == "ollama"
    result = CliRunner().invoke(app, [*args, "--llm-base-url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["answerer"] == "extractive"

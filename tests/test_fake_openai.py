"""tests/fake_openai.py and tests/fake_ollama.py: The fake server works with the real clients over loopback HTTP:
llama-index's OpenAILike and openai, and llama-index's Ollama and ollama."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import ollama
import openai
import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.ollama import Ollama
from llama_index.llms.openai_like import OpenAILike

from .fake_openai import FakeOpenAI

TEXT = "Forty-two freight cars stood at Tumangang,\nall of them empty. "


def make_llm(server: FakeOpenAI, is_chat_model: bool = True) -> OpenAILike:
    return OpenAILike(model="fake-model", api_base=server.base_url, api_key="test", is_chat_model=is_chat_model,
                      context_window=4096, max_retries=0, timeout=10)


MESSAGES = [ChatMessage(role="system", content="Answer from the reports."),
            ChatMessage(role="user", content="How many freight cars?")]


def test_chat_returns_the_reply_and_the_reply_sees_the_messages():
    seen = []

    def reply(messages: list[dict]) -> str:
        seen.append(messages)
        return TEXT

    with FakeOpenAI(reply) as server:
        response = make_llm(server).chat(MESSAGES)
    assert response.message.content == TEXT
    assert seen == [[{"role": "system", "content": "Answer from the reports."},
                     {"role": "user", "content": "How many freight cars?"}]]
    [request] = server.requests
    assert request["_path"] == "/v1/chat/completions" and request["model"] == "fake-model"
    assert request["messages"] == seen[0] and not request.get("stream")
    assert response.raw.usage.completion_tokens == len(TEXT.split())


def test_stream_chat_deltas_concatenate_to_the_reply():
    with FakeOpenAI(replies=[TEXT]) as server:
        deltas = [chunk.delta for chunk in make_llm(server).stream_chat(MESSAGES)]
    assert "".join(deltas) == TEXT
    assert len([d for d in deltas if d]) == len(TEXT.split())  # word by word
    assert server.requests[0]["stream"] is True and server.requests[0]["messages"][1]["role"] == "user"


@pytest.mark.parametrize(("is_chat_model", "path"), [(True, "/v1/chat/completions"), (False, "/v1/completions")])
def test_complete_and_stream_complete(is_chat_model, path):
    with FakeOpenAI(replies=["One two three.", TEXT]) as server:
        llm = make_llm(server, is_chat_model)
        assert llm.complete("How many?").text == "One two three."
        chunks = list(llm.stream_complete("And now?"))
    assert "".join(c.delta for c in chunks) == TEXT and chunks[-1].text == TEXT
    assert [r["_path"] for r in server.requests] == [path, path]
    if is_chat_model:
        assert server.requests[1]["messages"] == [{"role": "user", "content": "And now?"}]
    else:
        assert server.requests[1]["prompt"] == "And now?" and server.requests[1]["stream"] is True


def test_replies_are_popped_in_order_then_the_default():
    with FakeOpenAI(replies=["first", "second"]) as server:
        llm = make_llm(server)
        texts = [llm.complete(str(i)).text for i in range(3)]
    assert texts == ["first", "second", server.default_reply]


def test_the_wire_format_passes_the_openai_clients_strict_validation():
    with FakeOpenAI(replies=["Strict reply.", TEXT, "Legacy.", TEXT]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0,
                               _strict_response_validation=True)
        chat = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "Hi there"}])
        assert (chat.model, chat.choices[0].message.content, chat.choices[0].finish_reason) == ("m1", "Strict reply.",
                                                                                                "stop")
        assert (chat.usage.prompt_tokens, chat.usage.completion_tokens, chat.usage.total_tokens) == (2, 2, 4)
        chunks = list(client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "Hi"}],
                                                     stream=True, stream_options={"include_usage": True}))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(TEXT.split())
        legacy = client.completions.create(model="m2", prompt="Say it")
        assert legacy.choices[0].text == "Legacy." and legacy.object == "text_completion"
        # Legacy stream chunks carry finish_reason null until the last, as real servers send them, although the SDK
        # types them as non-optional; hence the default (non-strict) client here.
        loose = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        chunks = list(loose.completions.create(model="m2", prompt="Again", stream=True))
        assert "".join(c.choices[0].text for c in chunks) == TEXT
        assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
        assert [m.id for m in client.models.list()] == ["fake-model"]


def test_errors():
    def reply(messages: list[dict]) -> str:
        raise RuntimeError("scripted failure")

    with FakeOpenAI(reply) as server:
        with pytest.raises(openai.InternalServerError, match="scripted failure"):
            make_llm(server).chat(MESSAGES)
        for path, data, status in [("/v1/nowhere", b"{}", 404), ("/v1/chat/completions", b"{not json", 400),
                                   ("/v1/nowhere", None, 404)]:
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(urllib.request.Request(server.base_url.removesuffix("/v1") + path, data=data),
                                       timeout=10)
            assert caught.value.code == status
            assert "message" in json.loads(caught.value.read())["error"]
    assert server.requests[-2]["_raw"] == "{not json"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url


def test_ollama_chat_stream_chat_and_complete():
    seen = []

    def reply(messages: list[dict]) -> str:
        seen.append(messages)
        return TEXT

    with FakeOpenAI(reply) as server:
        llm = Ollama(model="fake", base_url=server.root_url, request_timeout=10)
        response = llm.chat(MESSAGES)
        chunks = list(llm.stream_chat(MESSAGES))
        completed = llm.complete("How many?")
    assert response.message.content == TEXT
    assert response.raw["usage"] == {"prompt_tokens": 8, "completion_tokens": len(TEXT.split()),
                                     "total_tokens": 8 + len(TEXT.split())}
    assert "".join(c.delta for c in chunks) == TEXT and chunks[-1].message.content == TEXT
    assert len([c for c in chunks if c.delta]) == len(TEXT.split())  # word by word
    assert chunks[-1].raw["done"] is True and chunks[-1].raw["done_reason"] == "stop"
    assert completed.text == TEXT
    assert seen == [[{"role": "system", "content": "Answer from the reports."},
                     {"role": "user", "content": "How many freight cars?"}]] * 2 + [
                    [{"role": "user", "content": "How many?"}]]
    show, chat, stream, complete = server.requests  # no context window given: Ollama asks the server for one
    assert (show["_path"], show["model"]) == ("/api/show", "fake") and llm.context_window == 8192
    assert [r["_path"] for r in (chat, stream, complete)] == ["/api/chat"] * 3
    assert [r["stream"] for r in (chat, stream, complete)] == [False, True, False]
    assert chat["model"] == "fake" and chat["options"]["num_ctx"] == 8192 and chat["messages"] == seen[0]


def test_ollama_wire_format_and_errors():
    with FakeOpenAI(replies=[TEXT]) as server:
        request = urllib.request.Request(server.root_url + "/api/chat", data=json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "Hi there"}]}).encode())  # streams by default
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/x-ndjson"
            lines = [json.loads(line) for line in response.read().decode().splitlines()]
        *pieces, last = lines
        assert all(p["done"] is False and p["model"] == "m" and p["message"]["role"] == "assistant" for p in pieces)
        assert "".join(p["message"]["content"] for p in pieces) == TEXT
        assert last["done"] is True and last["done_reason"] == "stop" and last["message"]["content"] == ""
        assert (last["prompt_eval_count"], last["eval_count"]) == (2, len(TEXT.split()))

        server.reply = lambda messages: 1 / 0
        client = ollama.Client(host=server.root_url, timeout=10)
        hi = [{"role": "user", "content": "Hi"}]
        with pytest.raises(ollama.ResponseError, match="ZeroDivisionError") as caught:
            client.chat(model="m", messages=hi)
        assert caught.value.status_code == 500
        with pytest.raises(ollama.ResponseError, match="ZeroDivisionError") as caught:
            list(client.chat(model="m", messages=hi, stream=True))
        assert caught.value.status_code == 500
        with pytest.raises(ollama.ResponseError, match="No route POST /api/generate") as caught:
            client.generate(model="m", prompt="Hi")  # llama-index's Ollama completes through /api/chat
        assert caught.value.status_code == 404
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.root_url

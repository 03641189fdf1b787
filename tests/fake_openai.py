"""A scripted OpenAI-compatible (and Ollama-compatible) HTTP server for tests.

The generative answerers talk to "any OpenAI-compatible server" through llama-index's real client code
(``OpenAILike`` -> ``openai`` -> ``httpx``). Mocking those layers would test the mock, so the tests run the real
client over real HTTP against this small server on 127.0.0.1 instead: no model, no network beyond loopback.

    with FakeOpenAI(reply=lambda messages: "Forty cars.") as server:
        llm = OpenAILike(model="fake-model", api_base=server.base_url, api_key="test", is_chat_model=True)

The same server speaks the Ollama REST API that the ``ollama`` client (under llama-index's ``Ollama``) uses:
``POST /api/chat`` (one JSON object, or NDJSON chunks when streaming) and ``POST /api/show``, which ``Ollama``
asks for the context window when it is given none. Ollama's base URL is the server's root, ``server.root_url``.

Every response closes its connection, so nothing lingers once the ``with`` block ends.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict]], str]


class FakeOpenAI:
    """A scripted OpenAI- and Ollama-compatible server on 127.0.0.1 (a free port).

    The completion text is ``reply(messages)`` if a callable is given, else the next of ``replies`` (popped in
    order), else ``default_reply``. Every request is recorded in ``requests`` (its JSON body plus ``"_path"``).
    """

    handler: type[BaseHTTPRequestHandler] | None = None  # the request handler: _Handler unless a subclass has one

    def __init__(self, reply: Reply | None = None, *, replies: list[str] | None = None) -> None:
        self.reply = reply
        self.replies: list[str] = list(replies or [])
        self.default_reply = "This is the fake server's reply."
        self.stream_delay = 0.0  # seconds between streamed pieces: lets a browser test see the stream
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        """The server's root: the base URL for Ollama clients."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running: use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API's base URL."""
        return self.root_url + "/v1"

    def __enter__(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler or _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def text_for(self, messages: list[dict]) -> str:
        """The scripted completion text for one request (may raise: the handler answers 500)."""
        if self.reply is not None:
            return self.reply(messages)
        with self._lock:
            return self.replies.pop(0) if self.replies else self.default_reply


def _words(value: Any) -> int:
    return len(value.split()) if isinstance(value, str) else 0


def _pieces(text: str) -> list[str]:
    """The text word by word, each word with the whitespace after it: the pieces concatenate to the text."""
    return re.findall(r"\S+\s*|\s+", text)


def _error(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _send_stream(self, content_type: str, frames: Iterator[bytes]) -> None:
        """A streamed body, flushed frame by frame; it ends when the connection does."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for frame in frames:
                self.wfile.write(frame)
                self.wfile.flush()
                time.sleep(self.server.fake.stream_delay)  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading early
            pass

    def _send_events(self, events: Iterator[dict]) -> None:
        """Server-sent events (OpenAI), then ``data: [DONE]``."""
        frames = (f"data: {json.dumps(event)}\n\n".encode() for event in events)
        self._send_stream("text/event-stream", itertools.chain(frames, [b"data: [DONE]\n\n"]))

    def _send_lines(self, objects: Iterator[dict]) -> None:
        """Newline-delimited JSON (Ollama): one object a line."""
        self._send_stream("application/x-ndjson", (json.dumps(obj).encode() + b"\n" for obj in objects))

    def do_GET(self) -> None:
        self.server.fake.requests.append({"_path": self.path})  # type: ignore[attr-defined]
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake-openai"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error(f"No route GET {self.path}", "invalid_request_error", "not_found"))

    def do_POST(self) -> None:
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            fake.requests.append({"_path": self.path, "_raw": raw.decode(errors="replace")})
            self._send_json(400, _error("The request body is not a JSON object", "invalid_request_error"))
            return
        fake.requests.append({**body, "_path": self.path})
        if self.path.startswith("/api/"):
            self._ollama(fake, body)
            return
        chat = self.path == "/v1/chat/completions"
        if not chat and self.path != "/v1/completions":
            self._send_json(404, _error(f"No route POST {self.path}", "invalid_request_error", "not_found"))
            return
        messages = body.get("messages", []) if chat else [{"role": "user", "content": body.get("prompt", "")}]
        try:
            text = fake.text_for(messages)
        except Exception as exc:  # a scripted failure: the server's error
            self._send_json(500, _error(f"reply failed: {exc!r}", "server_error"))
            return
        prompt_tokens, completion_tokens = sum(_words(m.get("content")) for m in messages), _words(text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        head = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:12]}", "created": int(time.time()),
                "model": body.get("model", "fake-model")}
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_events(_stream_events(head, chat, text, usage if with_usage else None))
        elif chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            self._send_json(200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
            self._send_json(200, {**head, "object": "text_completion", "choices": [choice], "usage": usage})

    def _ollama(self, fake: FakeOpenAI, body: dict) -> None:
        """Ollama's /api/show (a context length to find) and /api/chat; its errors are ``{"error": "..."}``."""
        if self.path not in ("/api/chat", "/api/show"):
            self._send_json(404, {"error": f"No route POST {self.path}"})
            return
        if self.path == "/api/show":
            self._send_json(200, {"modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
                                  "details": {"format": "gguf", "family": "fake", "parameter_size": "1B"},
                                  "model_info": {"general.architecture": "fake", "fake.context_length": 8192},
                                  "capabilities": ["completion"]})
            return
        messages = body.get("messages") or []
        try:
            text = fake.text_for(messages)
        except Exception as exc:  # a scripted failure: the server's error
            self._send_json(500, {"error": f"reply failed: {exc!r}"})
            return
        head = {"model": body.get("model", ""),
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        done = {"done": True, "done_reason": "stop", "total_duration": 0, "load_duration": 0,
                "prompt_eval_count": sum(_words(m.get("content")) for m in messages), "prompt_eval_duration": 0,
                "eval_count": _words(text), "eval_duration": 0}

        def said(content: str, **more: Any) -> dict:
            return {**head, "message": {"role": "assistant", "content": content}, **more}

        if body.get("stream", True):  # Ollama streams unless told not to
            self._send_lines(itertools.chain((said(p, done=False) for p in _pieces(text)), [said("", **done)]))
        else:
            self._send_json(200, said(text, **done))


def _stream_events(head: dict, chat: bool, text: str, usage: dict | None) -> Iterator[dict]:
    """The streamed chunks: (chat: a role-only delta first), the text piece by piece, a "stop", (the usage)."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    extra = {"usage": None} if usage else {}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        choice = {"delta": delta} if chat else {"text": delta.get("content", ""), "logprobs": None}
        return {**head, "object": kind, "choices": [{"index": 0, **choice, "finish_reason": finish}], **extra}

    if chat:
        yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(text):
        yield chunk({"content": piece})
    yield chunk({}, "stop")
    if usage:
        yield {**head, "object": kind, "choices": [], "usage": usage}

"""A scripted Ollama server for tests: what answerer "auto" looks for, and what llama-index's ``Ollama`` then
talks to, over real HTTP on 127.0.0.1.

    with FakeOllama({"llama3.2:latest": "llama"}, reply=lambda messages: "Forty cars.") as server:
        Ollama(model="llama3.2:latest", base_url=server.root_url).chat(...)

It is tests/fake_openai.py's server with Ollama's model list: ``GET /api/tags`` lists ``models`` (name ->
family; an embedding model is a "bert" family or has "embed" in its name, as in Ollama's library),
``GET /api/version`` answers, and ``POST /api/chat`` (one JSON object, or NDJSON chunks when streaming) answers
for a listed model and is a 404 for any other, as Ollama's is. Every request is recorded in ``requests``.
"""

from __future__ import annotations

from .fake_openai import FakeOpenAI, Reply, _Handler

VERSION = "0.12.6"


def _listed(name: str, family: str) -> dict:
    """One model as Ollama's /api/tags describes it."""
    return {"name": name, "model": name, "modified_at": "2026-01-01T00:00:00Z", "size": 1_000_000,
            "digest": "0" * 64,
            "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                        "parameter_size": "1B", "quantization_level": "Q4_K_M"}}


class _OllamaHandler(_Handler):
    server_version = "FakeOllama/1.0"

    def do_GET(self) -> None:
        fake: FakeOllama = self.server.fake  # type: ignore[attr-defined]
        if self.path == "/api/tags":
            fake.requests.append({"_path": self.path})
            self._send_json(200, {"models": [_listed(name, family) for name, family in fake.models.items()]})
        elif self.path == "/api/version":
            fake.requests.append({"_path": self.path})
            self._send_json(200, {"version": VERSION})
        else:
            super().do_GET()

    def _ollama(self, fake: FakeOllama, body: dict) -> None:  # type: ignore[override]
        if self.path == "/api/chat" and body.get("model") not in fake.models:
            self._send_json(404, {"error": f"model '{body.get('model')}' not found"})
            return
        super()._ollama(fake, body)


class FakeOllama(FakeOpenAI):
    """A scripted Ollama on 127.0.0.1 (a free port); its base URL is ``root_url``."""

    handler = _OllamaHandler

    def __init__(self, models: dict[str, str] | None = None, reply: Reply | None = None, *,
                 replies: list[str] | None = None) -> None:
        super().__init__(reply, replies=replies)
        self.models = dict(models if models is not None else {"llama3.2:latest": "llama"})

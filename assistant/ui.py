"""The chat: a Gradio Blocks app over one `Assistant`. Gradio is imported here and nowhere else;
`create_app()` builds the app (tests use it without serving), `launch()` serves it."""

from __future__ import annotations

import html
import re

from .core import Assistant
from .models import Answer

EXAMPLES = [
    "How many freight cars did satellite images show at Tumangang station?",
    "Who signed the satellite study?",
    "Where did Kim Jong-un and Vladimir Putin meet?",
    "How long did Kim's trip to Russia last?",
]
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _text(value: str | None) -> str:
    """Report text shown as text: never as HTML, never as Markdown markup."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(value or "", quote=True))


def answer_markdown(answer: Answer) -> str:
    if answer.abstained:
        return f"*{_text(answer.answer)}*"
    if all(s.supported for s in answer.sentences):
        return _text(answer.answer)
    # A sentence the verifier found no support for is shown, struck through and labelled, never silently.
    parts = []
    for s in answer.sentences:
        marks = "".join(f" \\[{m}\\]" for m in s.markers)
        parts.append(f"{_text(s.text)}{marks}" if s.supported else
                     f"~~{_text(s.text)}~~{marks} (⚠ not supported by the reports)")
    return " ".join(parts)


def sources_markdown(answer: Answer) -> str:
    if not answer.citations:
        if not answer.retrieved:
            return "No sources."
        lines = ["**No passage answers this question.** Closest passages:"]
        lines += [f"- {_text(p.title)}: {_text(' '.join(p.text.split())[:200])}..." for p in answer.retrieved[:3]]
        return "\n".join(lines)
    lines = []
    for c in answer.citations:
        where = " · ".join(_text(x) for x in (c.source, c.author, c.date) if x)
        title = f"[{_text(c.title)}]({html.escape(c.url, quote=True)})" if c.url else _text(c.title)
        check = "" if c.supported else " ⚠ **does not support the sentence that cites it**"
        if c.supported and c.repaired:
            check = " (citation moved here by the verifier)"
        lines.append(f"**[{c.marker}]** {title}{check}  \n{where}  \n> {_text(c.quote)}\n")
    return "\n".join(lines)


def create_app(assistant: Assistant):
    import gradio as gr

    def respond(message: str, history: list[dict]):
        if not message or not message.strip():
            yield history, gr.skip(), ""
            return
        previous = [{"role": m["role"], "content": _plain(m["content"])} for m in history]
        history = history + [{"role": "user", "content": _text(message)}]
        written = ""
        for item in assistant.ask_stream(message, history=previous):
            if isinstance(item, Answer):  # verified: replaces what was streamed
                yield history + [{"role": "assistant", "content": answer_markdown(item)}], sources_markdown(item), ""
                return
            written += item
            yield history + [{"role": "assistant", "content": _text(written) + " …"}], "Checking sources…", ""

    with gr.Blocks(title="Report Assistant", analytics_enabled=False) as app:
        gr.Markdown("## Report Assistant\nAnswers come from your reports only; every sentence cites its source.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480, sanitize_html=True, allow_tags=False,
                                  feedback_options=None)
                box = gr.Textbox(placeholder="Ask about the reports...", label="Question", autofocus=True)
                gr.Examples(EXAMPLES, inputs=box)
            with gr.Column(scale=2):
                sources = gr.Markdown("Sources appear here.", label="Sources")
        box.submit(respond, [box, chat], [chat, sources, box])
    return app


def message_text(content: object) -> str:
    """A chat message as plain text: Gradio 6 gives content as a list of {"type": "text", "text": ...}."""
    if isinstance(content, list):
        return " ".join(message_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)


def _plain(content: object) -> str:
    return html.unescape(re.sub(r"\\(.)", r"\1", message_text(content)))


def launch(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    create_app(assistant).launch(server_name=host, server_port=port, share=False, show_error=True)

"""The chat's HTML, exports and serve options, without a browser (tests/test_browser.py drives the real page)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from assistant.cli import app
from assistant.models import Answer, AnswerSentence, Citation, Copy, Timings
from assistant.ui import export_json, export_markdown, render_conversation, render_passage

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> *bold* [link](javascript:x)'


def hostile_answer() -> dict:
    citation = Citation(marker=1, doc_id="d", title=HOSTILE, source=HOSTILE, author=HOSTILE, date="2023-01-01",
                        url="javascript:alert(3)", path="/x", quote=HOSTILE, start=10, end=10 + len(HOSTILE),
                        score=0.9, also_in=[Copy(doc_id="e", chunk_id="e::0", title=HOSTILE, source=HOSTILE,
                                                 start=0, end=5)])
    return Answer(question=HOSTILE, answer=f"{HOSTILE} [1]", abstained=False, retrieved=[], citations=[citation],
                  timings_ms=Timings(retrieve=1, answer=1, total=2),
                  sentences=[AnswerSentence(text=HOSTILE, markers=[1], supported=True, support_score=1.0),
                             AnswerSentence(text="95 wagons.", markers=[], supported=False, support_score=0.3,
                                            flags=["not in the source: 95"])]).model_dump(mode="json")


def test_report_text_is_never_html():
    answer = hostile_answer()
    shown = [render_conversation([{"question": HOSTILE, "answer": answer}]),
             render_passage(answer["citations"][0], "0123456789" + HOSTILE + " after")]
    for page in shown:
        assert "<script>" not in page and "<img" not in page and "javascript:" not in page.replace(
            "javascript:x", "")  # the text "[link](javascript:x)" stays as text, never a link
        assert "&lt;script&gt;" in page
    assert '<a href' not in shown[1]  # a javascript: URL is not made a link


def test_answers_show_markers_sources_and_unsupported_sentences():
    page = render_conversation([{"question": "q", "answer": hostile_answer()}])
    assert 'class="cite" data-turn="0" data-marker="1"' in page
    assert '<span class="s bad" title="not in the source: 95">95 wagons.</span>' in page
    assert "Also ran in:" in page and 'class="legend"' in page
    abstained = {**hostile_answer(), "abstained": True, "answer": "The reports do not say."}
    assert '<div class="a abstained">The reports do not say.</div>' in render_conversation(
        [{"question": "q", "answer": abstained}])
    streaming = render_conversation([{"question": "q", "answer": None, "streaming": "Seventy"}])
    assert 'class="a streaming">Seventy …' in streaming


def test_the_passage_panel_marks_the_quote_in_its_context():
    text = "Before the quote. " + "Satellite images showed 73 freight cars." + " After the quote."
    citation = {**hostile_answer()["citations"][0], "title": "Study", "url": "https://example.org/a", "start": 18,
                "end": 18 + len("Satellite images showed 73 freight cars.")}
    panel = render_passage(citation, text)
    assert "Before the quote. <mark>Satellite images showed 73 freight cars.</mark> After the quote." in panel
    assert '<a href="https://example.org/a" target="_blank" rel="noopener noreferrer">Study</a>' in panel
    assert "Supports the sentence" in panel
    assert "does not support" in render_passage({**citation, "supported": False}, text)


def test_exports_carry_provenance(assistant):
    answer = assistant.ask("How many freight cars did satellite images show at Tumangang station?")
    turns = [{"question": answer.question, "answer": answer.model_dump(mode="json")}]
    md = export_markdown(turns)
    assert "## How many freight cars" in md and "> " + answer.citations[0].quote in md and "characters" in md
    data = json.loads(export_json(turns, assistant))
    assert data["turns"][0] == turns[0]["answer"]
    cited = answer.citations[0].doc_id
    assert data["documents"][cited] == assistant.document(cited).hash
    assert data["settings"]["chunk_size"] == assistant.settings.chunk_size and "llm_api_key" not in data["settings"]


def test_serve_refuses_the_network_without_a_password(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--store", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--auth" in result.output
    result = CliRunner().invoke(app, ["serve", "--store", str(tmp_path), "--host", "0.0.0.0", "--auth", "nopass"])
    assert result.exit_code == 2 and "USER:PASS" in result.output
    (tmp_path / "auth").write_text("")
    result = CliRunner().invoke(app, ["serve", "--store", str(tmp_path), "--auth-file", str(tmp_path / "auth")])
    assert result.exit_code == 2 and "auth-file" in result.output


def test_uploads_are_staged_in_the_store_and_bad_types_refused_by_name(tmp_path):
    from assistant.ui import stage_uploads

    good, bad = tmp_path / "a report.md", tmp_path / "payload.exe"
    good.write_text("# Title\n\nText.")
    bad.write_bytes(b"MZ")
    paths, rows = stage_uploads([good, bad], tmp_path / "store" / "uploads")
    assert paths == [tmp_path / "store" / "uploads" / "a report.md"] and paths[0].read_text() == good.read_text()
    assert rows == [["payload.exe", "failed", "", 0, rows[0][4]]] and rows[0][4].startswith("payload.exe: unsupported")

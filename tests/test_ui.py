"""assistant/serve/ui.py: The chat's HTML, exports and serve options, without a browser (tests/test_browser.py drives
the real page)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from assistant.cli import app
from assistant.models import Answer, AnswerSentence, Citation, Copy, Disagreement, DisagreementValue, Timings
from assistant.serve.ui import (
    LOW_CONFIDENCE,
    export_json,
    export_markdown,
    render_answer,
    render_conversation,
    render_outlets,
    render_passage,
    render_timeline,
)

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


def cars_answer(**fields) -> dict:
    """Two reports that count the freight cars differently, each cited once."""
    fields = {"abstained": False, "answer": "Satellite images showed 73 freight cars. [1]", "confidence": 0.83,
              **fields}
    citations = [Citation(marker=n, doc_id=f"d{n}", title=f"Report {n}", source="Monitor", author=None, date=None,
                          url=None, path="/x", quote=quote, start=0, end=len(quote), score=0.9)
                 for n, quote in ((1, "Satellite images showed 73 freight cars."), (2, "About 70 cars stood there."))]
    sentences = [AnswerSentence(text="Satellite images showed 73 freight cars.", markers=[1], supported=True,
                                support_score=0.9)]
    return Answer(question="How many freight cars?", citations=citations, retrieved=[], sentences=sentences,
                  timings_ms=Timings(retrieve=1, answer=1, total=2), **fields).model_dump(mode="json")


def test_a_low_confidence_answer_is_shown_with_its_warning_and_markers():
    page = render_conversation([{"question": "q", "answer": cars_answer(low_confidence=True, confidence=0.31)}])
    assert '<div class="a low"><div class="low-warning" role="note">' + LOW_CONFIDENCE in page
    assert page.index(LOW_CONFIDENCE) < page.index("Satellite images showed 73")  # the warning comes first
    assert 'class="cite" data-turn="0" data-marker="1"' in page and "confidence 0.31" in page
    assert "abstained" not in page and '<span class="low">' in page  # the legend explains the style
    assert "**" + LOW_CONFIDENCE + "**" in export_markdown([{"question": "q", "answer": cars_answer(
        low_confidence=True)}])


def test_a_confident_answer_shows_its_confidence_without_a_warning():
    answer = render_answer(cars_answer(), 0)
    assert answer.startswith('<div class="a">') and "confidence 0.83" in answer
    assert "Low confidence" not in answer and "low-warning" not in answer


def test_an_abstention_shows_no_confidence():
    abstained = cars_answer(abstained=True, answer="The reports do not say.", low_confidence=False, confidence=0.2)
    assert render_answer(abstained, 0) == '<div class="a abstained">The reports do not say.</div>'
    md = export_markdown([{"question": "q", "answer": abstained}])
    assert "The reports do not say." in md and "Confidence" not in md


def test_disagreements_are_listed_with_clickable_markers_and_escaped():
    disagreements = [Disagreement(about="freight cars", values=[DisagreementValue(value="73", markers=[1]),
                                                                DisagreementValue(value="about 70", markers=[2])]),
                     Disagreement(about=HOSTILE, values=[DisagreementValue(value=HOSTILE, markers=[1])])]
    answer = cars_answer(disagreements=disagreements)
    box = render_answer(answer, 3).split('<div class="differ" role="note">', 1)[1].split("</div>", 1)[0]
    assert box.startswith("<b>Reports differ</b>")
    assert ('<li>freight cars: 73 <button class="cite" data-turn="3" data-marker="1" aria-label="Show source 1">'
            '[1]</button>; about 70 <button class="cite" data-turn="3" data-marker="2"') in box
    assert "<script>" not in box and "<img" not in box and box.count("&lt;script&gt;") == 2
    md = export_markdown([{"question": "q", "answer": answer}])
    assert "Confidence: 0.83" in md and "Reports differ:\n- freight cars: 73 [1]; about 70 [2]\n" in md
    assert "Reports differ" not in render_answer(cars_answer(), 0)


def test_timelines_outlets_and_later_report_notes_are_escaped_and_clickable():
    from assistant.models import Comparison, OutletView, Timeline, TimelineConflict, TimelineEvent, Update

    cite = Citation.model_validate(hostile_answer()["citations"][0])
    event = TimelineEvent(date="2023-09-10", precision="day", date_source="report date", date_text="Sunday",
                          date_note=HOSTILE, text=HOSTILE, outlets=[HOSTILE], citations=[cite],
                          conflicts=[TimelineConflict(date="2023-09-11", event=0, markers=[1])])
    timings = Timings(retrieve=1, answer=1, total=2)
    page = render_timeline(Timeline(topic=HOSTILE, events=[event], timings_ms=timings).model_dump(mode="json"))
    assert '<tr class="event conflict" data-marker="1" data-turn="0" data-event="0">' in page
    assert "another report dates this 2023-09-11" in page
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
    empty = render_timeline(Timeline(topic=HOSTILE, events=[], timings_ms=timings).model_dump(mode="json"))
    assert "state no dated events" in empty and "<script>" not in empty
    earlier = event.model_copy(update={"kind": "background", "conflicts": []})
    later = event.model_copy(update={"kind": "expected", "conflicts": []})
    sections = render_timeline(Timeline(topic=HOSTILE, events=[event], background=[earlier], expected=[later],
                                        timings_ms=timings).model_dump(mode="json"))
    assert sections.index('aria-label="Timeline"') < sections.index(">Background</h4>") < sections.index(
        'aria-label="Background"') < sections.index(">Expected</h4>") < sections.index('aria-label="Expected"')
    only_background = render_timeline(Timeline(topic=HOSTILE, events=[], background=[earlier],
                                               timings_ms=timings).model_dump(mode="json"))
    assert "in its own span" in only_background and 'aria-label="Background"' in only_background
    views = [OutletView(outlet=HOSTILE, covered=True, text=HOSTILE, citation=cite, value="about 70", differs=True),
             OutletView(outlet="Seoul Ledger", covered=False)]
    table = render_outlets(Comparison(question=HOSTILE, outlets=views, timings_ms=timings).model_dump(mode="json"))
    assert '<tr class="differs" data-marker="1" data-turn="0">' in table and "differs: about 70" in table
    assert '<tr class="missing"><td>Seoul Ledger</td><td colspan="2">not covered</td></tr>' in table
    assert "<script>" not in table and "<img" not in table
    answer = cars_answer(updates=[Update(marker=1, value="73", later_value=HOSTILE, later=cite)])
    shown = render_answer(answer, 2)
    assert '<span class="update" role="note">↻ A later report (' in shown and "<script>" not in shown
    assert 'data-turn="2" data-marker="1"' in shown and 'class="by-outlet" data-turn="2"' in shown


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
    from assistant.serve.ui import stage_uploads

    good, bad = tmp_path / "a report.md", tmp_path / "payload.exe"
    good.write_text("# Title\n\nText.")
    bad.write_bytes(b"MZ")
    paths, rows = stage_uploads([good, bad], tmp_path / "store" / "uploads")
    assert paths == [tmp_path / "store" / "uploads" / "a report.md"] and paths[0].read_text() == good.read_text()
    assert rows == [["payload.exe", "failed", "", 0, rows[0][4]]] and rows[0][4].startswith("payload.exe: unsupported")

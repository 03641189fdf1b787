"""The chat: a Gradio Blocks app over one `Assistant`. `create_app()` builds the app (tests use it without
serving); server.py serves it beside the HTTP API.

Everything a report says is escaped before it reaches the page (`_esc`): the conversation, the
passage panel and the library are HTML built here from escaped text, never from a report's markup.

Over 400 lines: one Gradio page (chat, passage panel, timeline, library, uploads) whose handlers share its
components.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import Assistant
from ..models import TIMELINE_SECTIONS, Answer, Filters

if TYPE_CHECKING:
    from .service import Service

EXAMPLES = [
    "How many freight cars did satellite images show at Tumangang station?",
    "Who wrote the satellite study?",
    "Where did Kim Jong-un and Vladimir Putin meet?",
    "How long did Kim's trip to Russia last?",
]
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl"]
CONTEXT_CHARS = 700  # of the report shown on each side of a cited quote
LOW_CONFIDENCE = "Low confidence: this may not answer the question: check the sources."
LEGEND = ('<div class="legend"><span class="ok">plain text</span>: a passage supports it, click its '
          '<span class="cite-demo">[n]</span> to read it · <span class="bad">struck through ⚠</span>: '
          'no passage supports it · <span class="low">amber bar</span>: answered with low confidence, check '
          'the sources · <span class="abst">grey italics</span>: the reports do not answer</div>')
CSS = """
.conv { display: flex; flex-direction: column; gap: 14px; font-size: 15px; line-height: 1.5; }
.conv .legend { font-size: 12px; opacity: 0.8; }
.conv .q { align-self: flex-end; background: var(--color-accent-soft); padding: 8px 12px; border-radius: 10px;
           max-width: 90%; }
.conv .a { padding: 8px 12px; border-left: 3px solid var(--color-accent); }
.conv .a.abstained, .legend .abst { border-left-color: #999; font-style: italic; color: #666; }
.conv .a.streaming { opacity: 0.75; }
.conv .a.low { border-left-color: #e0a100; background: rgba(224, 161, 0, 0.08); }
.legend .low { border-left: 3px solid #e0a100; padding-left: 4px; }
.conv .low-warning { color: #b06f00; font-size: 13px; font-weight: 600; margin-bottom: 4px; }
.conv .differ { font-size: 13px; margin-top: 6px; padding: 4px 8px; border: 1px solid #e0a100; border-radius: 6px; }
.conv .differ ul { margin: 2px 0 0 0; padding-left: 18px; }
.conv .confidence { font-size: 12px; opacity: 0.7; margin-top: 4px; }
.conv .s.bad, .legend .bad { text-decoration: line-through; text-decoration-color: #c0392b; }
.conv .s.bad::after { content: " ⚠ not supported by the reports"; color: #c0392b; text-decoration: none;
                      display: inline-block; font-size: 12px; }
button.cite { border: none; background: none; color: var(--color-accent); cursor: pointer; padding: 0 2px;
              font-weight: 600; font-size: inherit; }
button.cite:focus-visible { outline: 2px solid var(--color-accent); }
button.cite.bad, .conv .warn { color: #c0392b; }
.conv ol.sources { font-size: 13px; margin: 4px 0 0 0; padding-left: 18px; }
.conv ol.sources li { margin-bottom: 4px; }
.conv .also, .passage .meta, .passage .status { font-size: 12px; opacity: 0.85; }
.passage .context { white-space: pre-wrap; font-size: 14px; line-height: 1.5; }
.passage mark { background: #ffe066; color: #000; padding: 0 1px; }
.passage .status.bad { color: #c0392b; }
.conv .update { display: block; font-size: 12px; margin: 2px 0 4px 12px; color: #8a5a00; }
button.by-outlet { font-size: 12px; margin-top: 4px; border: 1px solid var(--color-accent); border-radius: 6px;
                   background: none; color: var(--color-accent); cursor: pointer; padding: 1px 8px; }
table.timeline, table.outlets { border-collapse: collapse; width: 100%; font-size: 14px; }
table.timeline td, table.outlets td, table.timeline th, table.outlets th { border-bottom: 1px solid #ddd;
  padding: 4px 6px; vertical-align: top; text-align: left; }
table.timeline tr.event { cursor: pointer; }
table.timeline tr.event:hover, table.outlets tr:hover { background: var(--color-accent-soft); }
table.timeline { table-layout: fixed; }
table.timeline .when { font-weight: 600; }
h4.timeline-section { margin: 14px 0 4px; }
table.timeline .how, table.outlets .where { font-size: 12px; font-weight: normal; opacity: 0.8; }
table.timeline tr.conflict, table.outlets tr.differs { background: rgba(224, 161, 0, 0.10); }
.conflict-note, .differs-note { color: #b06f00; font-size: 12px; font-weight: 600; }
table.outlets tr.missing { opacity: 0.6; font-style: italic; }
"""
CLICK_JS = """
element.addEventListener('click', (event) => {
  const outlets = event.target.closest('button.by-outlet');
  if (outlets) { trigger('click', {turn: Number(outlets.dataset.turn), outlets: 1}); return; }
  const button = event.target.closest('button.cite') || event.target.closest('tr[data-marker]');
  if (button) trigger('click', {turn: Number(button.dataset.turn || 0), marker: Number(button.dataset.marker)});
});
"""


def _esc(value: object) -> str:
    return html.escape(str(value or ""), quote=True)


def _link(url: str | None, text: str) -> str:
    if url and re.match(r"https?://", url):
        return f'<a href="{_esc(url)}" target="_blank" rel="noopener noreferrer">{_esc(text)}</a>'
    return _esc(text)


# --- HTML built from answers (pure functions: the tests call them) -----------------------------------

def render_conversation(turns: list[dict]) -> str:
    """The whole conversation: each turn is {"question", "answer": ask JSON or None, "streaming": text}."""
    if not turns:
        return '<div class="conv"><p>Ask a question about the reports. Answers cite their sources.</p></div>'
    parts = ['<div class="conv">', LEGEND]
    for i, turn in enumerate(turns):
        parts.append(f'<div class="q">{_esc(turn["question"])}</div>')
        if turn.get("answer") is None:
            parts.append(f'<div class="a streaming">{_esc(turn.get("streaming", ""))} …</div>')
        else:
            parts.append(render_answer(turn["answer"], i))
    parts.append("</div>")
    return "".join(parts)


def render_answer(answer: dict, turn: int) -> str:
    """One answer: its sentences with their markers, a warning above it when its confidence is low, the
    "Reports differ" box, then its confidence and sources. An abstention is its text alone: its confidence
    is that of an answer it held back, so showing it would only confuse."""
    if answer["abstained"]:
        return f'<div class="a abstained">{_esc(answer["answer"])}</div>'
    sentences = []
    for s in answer["sentences"]:
        title = f' title="{_esc("; ".join(s["flags"]))}"' if s["flags"] else ""
        sentences.append(f'<span class="s {"ok" if s["supported"] else "bad"}"{title}>{_esc(s["text"])}</span>'
                         f'{_cites(answer, turn, s["markers"])}{render_updates(answer, turn, s["markers"])}')
    low = answer["low_confidence"]
    warning = f'<div class="low-warning" role="note">{_esc(LOW_CONFIDENCE)}</div>' if low else ""
    confidence = (f'<div class="confidence" title="Estimated probability that the answer is right">'
                  f'confidence {answer["confidence"]:.2f}</div>')
    by_outlet = (f'<button class="by-outlet" data-turn="{turn}" title="What each outlet says in answer to this '
                 f'question">By outlet</button>')
    return (f'<div class="a{" low" if low else ""}">{warning}{" ".join(sentences)}'
            f'{render_disagreements(answer, turn)}{confidence}{render_sources(answer, turn)}{by_outlet}</div>')


def render_updates(answer: dict, turn: int, markers: list[int]) -> str:
    """The note under a sentence whose cited figure a later report gives differently."""
    notes = []
    for u in answer.get("updates", []):
        if u["marker"] in markers:
            later = u["later"]
            where = ", ".join(_esc(x) for x in (later["source"] or later["title"], later["date"]) if x)
            notes.append(f'<span class="update" role="note">↻ A later report ({where}) gives '
                         f'{_esc(u["later_value"])} {_cite(turn, later["marker"])} '
                         f'(this one: {_esc(u["value"])})</span>')
    return "".join(notes)


def render_disagreements(answer: dict, turn: int) -> str:
    """The "Reports differ" box: per fact, each value the cited reports give, with the markers giving it."""
    if not answer["disagreements"]:
        return ""
    items = []
    for d in answer["disagreements"]:
        values = "; ".join(f'{_esc(v["value"])} {_cites(answer, turn, v["markers"])}' for v in d["values"])
        items.append(f"<li>{_esc(d['about'])}: {values}</li>")
    return f'<div class="differ" role="note"><b>Reports differ</b><ul>{"".join(items)}</ul></div>'


def _cites(answer: dict, turn: int, markers: list[int]) -> str:
    """The [n] buttons for these markers, each flagged when its citation does not support its sentence."""
    supported = {c["marker"]: c["supported"] for c in answer["citations"]}
    return "".join(_cite(turn, m, supported.get(m, True)) for m in markers)


def _cite(turn: int, marker: int, supported: bool = True) -> str:
    return (f'<button class="cite{"" if supported else " bad"}" data-turn="{turn}" data-marker="{marker}" '
            f'aria-label="Show source {marker}">[{marker}]</button>')


def render_sources(answer: dict, turn: int) -> str:
    """The sources under an answer; wire copies of a passage grouped under it."""
    items = []
    for c in answer["citations"]:
        where = " · ".join(_esc(x) for x in (c["source"], c["date"]) if x)
        also = ""
        if c["also_in"]:
            outlets = ", ".join(_esc(x["source"] or x["title"]) for x in c["also_in"])
            also = f'<div class="also">Also ran in: {outlets}</div>'
        quote = c["quote"] if len(c["quote"]) <= 240 else c["quote"][:240] + "…"
        warning = "" if c["supported"] else ' <span class="warn">⚠ does not support the sentence citing it</span>'
        items.append(f'<li>{_cite(turn, c["marker"], c["supported"])} <b>{_esc(c["title"])}</b> · {where}'
                     f' — “{_esc(quote)}”{warning}{also}</li>')
    return f'<ol class="sources" aria-label="Sources">{"".join(items)}</ol>'


def render_timeline(timeline: dict | None) -> str:
    """The timeline as a table: date, event, outlets with their [n]; a click on a row shows its passage.
    Background and expected rows follow in tables of their own."""
    if timeline is None:
        return '<div class="timeline-empty">Name a topic to see what happened when, every event cited.</div>'
    background, expected = timeline.get("background", []), timeline.get("expected", [])
    if not timeline["events"] and not background and not expected:
        return f'<div class="timeline-empty">The reports state no dated events about “{_esc(timeline["topic"])}”.</div>'
    parts = [_timeline_table(timeline["events"], "Timeline", "Event")] if timeline["events"] else [
        f'<div class="timeline-empty">No dated events about “{_esc(timeline["topic"])}” in its own span.</div>']
    if background:
        parts.append('<h4 class="timeline-section">Background</h4>'
                     + _timeline_table(background, "Background", "Earlier, for context"))
    if expected:
        parts.append('<h4 class="timeline-section">Expected</h4>'
                     + _timeline_table(expected, "Expected", "Forecast or plan, not yet happened"))
    return "".join(parts)


def _timeline_table(events: list[dict], label: str, column: str) -> str:
    rows = []
    for i, e in enumerate(events):
        how = f'<div class="how">{_esc(e["date_note"])}</div>' if e["date_note"] else ""
        conflict = "".join(f'<div class="conflict-note">⚠ another report dates this {_esc(c["date"])} '
                           f'{"".join(_cite(0, m) for m in c["markers"])}</div>' for c in e["conflicts"])
        outlets = "<br>".join(f'{_cite(0, c["marker"])} {_esc(c["source"] or c["title"])}'
                              f'<span class="how"> {_esc(c["date"] or "")}</span>' for c in e["citations"])
        flag = " conflict" if e["conflicts"] else ""
        rows.append(f'<tr class="event{flag}" data-marker="{e["citations"][0]["marker"]}" data-turn="0" '
                    f'data-event="{i}"><td class="when">{_esc(e["date"])}{how}</td>'
                    f'<td>{_esc(e["text"])}{conflict}</td><td>{outlets}</td></tr>')
    return (f'<table class="timeline" aria-label="{label}"><colgroup><col style="width:18%"><col style="width:57%">'
            f'<col style="width:25%"></colgroup><thead><tr><th>Date</th><th>{column}</th><th>Reported by</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def render_outlets(comparison: dict | None) -> str:
    """Who said what: each outlet's sentence answering the question, the ones whose value differs marked."""
    if comparison is None:
        return ""
    rows = []
    for o in comparison["outlets"]:
        if not o["covered"]:
            rows.append(f'<tr class="missing"><td>{_esc(o["outlet"])}</td><td colspan="2">not covered</td></tr>')
            continue
        c = o["citation"]
        differs = f'<div class="differs-note">⚠ differs: {_esc(o["value"])}</div>' if o["differs"] else ""
        rows.append(f'<tr class="{"differs" if o["differs"] else "covered"}" data-marker="{c["marker"]}" data-turn="0">'
                    f'<td>{_esc(o["outlet"])}<div class="where">{_esc(c["date"] or "undated")}</div></td>'
                    f'<td>{_esc(o["text"])} {_cite(0, c["marker"])}{differs}</td></tr>')
    return (f'<div class="by-outlet-view"><b>By outlet:</b> {_esc(comparison["question"])}'
            f'<table class="outlets" aria-label="By outlet">{"".join(rows)}</table></div>')


def render_passage(citation: dict, text: str, author: str | None = None, status: str | None = None) -> str:
    """The cited passage in its surrounding text, the quote in a <mark>, with the report's particulars.
    `status` replaces the verifier's line (for a timeline's event, or an outlet's sentence)."""
    start, end = citation["start"], citation["end"]
    before = text[max(0, start - CONTEXT_CHARS):start]
    after = text[end:end + CONTEXT_CHARS]
    meta = " · ".join(_esc(x) for x in (citation["source"], author or citation.get("author"), citation["date"]) if x)
    if status:
        status = f'<div class="status">{_esc(status)}</div>'
    elif not citation["supported"]:
        status = '<div class="status bad">⚠ This passage does not support the sentence that cites it.</div>'
    elif citation.get("repaired"):
        status = '<div class="status">The verifier moved this citation here: this passage supports the sentence.</div>'
    else:
        status = '<div class="status">✓ Supports the sentence that cites it.</div>'
    also = ""
    if citation["also_in"]:
        also = '<div class="also">Also ran in: ' + ", ".join(
            f'{_esc(x["source"] or "")} ({_esc(x["title"])})' for x in citation["also_in"]) + "</div>"
    return (f'<div class="passage"><h3>[{citation["marker"]}] {_link(citation["url"], citation["title"])}</h3>'
            f'<div class="meta">{meta}</div>{status}'
            f'<p class="context">{"…" if start > CONTEXT_CHARS else ""}{_esc(before)}<mark>{_esc(text[start:end])}'
            f'</mark>{_esc(after)}{"…" if end + CONTEXT_CHARS < len(text) else ""}</p>{also}'
            f'<div class="meta">{_esc(citation["path"])}, characters {start}-{end}</div></div>')


def export_markdown(turns: list[dict]) -> str:
    lines = ["# Conversation with Report Assistant", ""]
    for turn in turns:
        answer = turn.get("answer")
        if answer is None:
            continue
        lines += [f"## {turn['question']}", ""]
        if answer["low_confidence"] and not answer["abstained"]:
            lines += [f"**{LOW_CONFIDENCE}**", ""]
        lines += [answer["answer"], ""]
        if not answer["abstained"]:
            lines += [f"Confidence: {answer['confidence']:.2f}", ""]
        for s in answer["sentences"]:
            if not s["supported"]:
                lines.append(f"- Not supported by the reports: {s['text']} ({'; '.join(s['flags'])})")
        if answer["disagreements"]:
            lines += ["", "Reports differ:"] if lines[-1] else ["Reports differ:"]
            for d in answer["disagreements"]:
                values = "; ".join(f"{v['value']} " + "".join(f"[{m}]" for m in v["markers"]) for v in d["values"])
                lines.append(f"- {d['about']}: {values}")
            lines.append("")
        for c in answer["citations"]:
            where = ", ".join(x for x in (c["source"], c["author"], c["date"]) if x)
            lines += [f"[{c['marker']}] {c['title']} ({where}){'' if c['supported'] else ' - does NOT support it'}",
                      f"> {c['quote']}", f"{c['url'] or c['path']}, characters {c['start']}-{c['end']}", ""]
    return "\n".join(lines)


def export_json(turns: list[dict], assistant: Assistant) -> str:
    """Every turn's ask JSON, with the hashes of the documents they cite and the settings used."""
    answers = [t["answer"] for t in turns if t.get("answer") is not None]
    cited = {c["doc_id"] for a in answers for c in a["citations"]} | {p["doc_id"] for a in answers
                                                                      for p in a["retrieved"]}
    hashes = {d.doc_id: d.hash for d in assistant.documents() if d.doc_id in cited}
    settings = assistant.settings.model_dump(mode="json", exclude={"llm_api_key"})
    return json.dumps({"exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "settings": settings,
                       "documents": hashes, "turns": answers}, ensure_ascii=False, indent=2)


def unsupported(name: str) -> str | None:
    """Why a file of this name is refused for upload (its type), or None (the chat and the API use it)."""
    kind = Path(name).suffix
    if kind.lower() in UPLOAD_TYPES:
        return None
    return f"{name}: unsupported type {kind or '(none)'}: one of {' '.join(UPLOAD_TYPES)}"


def stage_uploads(files: list[Path], folder: Path) -> tuple[list[Path], list[list]]:
    """Uploaded files copied into the store's uploads folder, so that the same file uploaded again updates
    its report; and a result row for each file refused (its type is checked here too, not only in the
    browser)."""
    paths, rows = [], []
    folder.mkdir(parents=True, exist_ok=True)
    for source in files:
        if refused := unsupported(source.name):
            rows.append([source.name, "failed", "", 0, refused])
            continue
        target = folder / source.name
        shutil.copyfile(source, target)
        paths.append(target)
    return paths, rows


def _history(turns: list[dict]) -> list[dict]:
    out = []
    for t in turns:
        if t.get("answer") is not None:
            out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]["answer"]}]
    return out


def answerer_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """The answerer menu, (label, value), the configured answerer last: extractive, and the LLM if one is
    configured. "auto" is shown as the Ollama model it found ("ollama: llama3.2"), or not at all when it
    found none (then extractive answers)."""
    name = assistant.settings.answerer
    if name != "auto":
        return [(n, n) for n in dict.fromkeys(["extractive", name])]
    found, settings = assistant.auto_answerer
    return [("extractive", "extractive")] + ([(f"ollama: {settings.llm_model}", "auto")] if found == "ollama" else [])


# --- the app -----------------------------------------------------------------------------------------

def create_app(service: Service | Assistant):
    """The chat over a Service (server.py), or over an Assistant alone (one question at a time, no warm-up)."""
    import gradio as gr

    from .service import Service

    if isinstance(service, Assistant):
        service = Service(service, workers=1)
        service.ready.set()
    assistant = service.assistant
    uploads = service.uploads
    answerers = answerer_choices(assistant)

    def library_rows(query: str = "") -> list[list]:
        q = (query or "").lower()
        return [[d.doc_id, d.title, d.source or "", d.date or "", d.chunks] for d in assistant.documents()
                if not q or q in f"{d.doc_id} {d.title} {d.source or ''}".lower()]

    def choices():
        docs = assistant.documents()
        outlets = sorted({d.source for d in docs if d.source})
        titles = [(f"{d.title} ({d.source or 'no outlet'}, {d.date or 'undated'})", d.doc_id) for d in docs]
        return (gr.update(choices=outlets), gr.update(choices=titles), gr.update(choices=titles),
                gr.update(choices=outlets))

    def respond(question, turns, outlets, since, until, doc_ids, answerer, top_k, strict):
        if not question or not question.strip():
            yield turns, gr.skip(), question
            return
        filters = chosen_filters(outlets, since, until, doc_ids)
        turn = {"question": question, "answer": None, "streaming": ""}
        turns = [*turns, turn]
        for item in service.ask_stream(question, top_k=int(top_k), history=_history(turns[:-1]),
                                       filters=filters, answerer=answerer, strict=strict):
            if isinstance(item, Answer):
                turn["answer"] = item.model_dump(mode="json")
            else:
                turn["streaming"] += item
            yield turns, render_conversation(turns), ""

    def chosen_filters(outlets, since, until, doc_ids=None) -> Filters:
        """The filter boxes as Filters; a bad date is shown to the user, naming the box."""
        try:
            return Filters(sources=outlets or [], since=since or None, until=until or None, doc_ids=doc_ids or [])
        except ValueError as exc:
            raise gr.Error(str(exc).split("\n")[-1]) from None

    def download(name: str, kind: str, text: str):
        """A file the user downloads from the page: `text` as NAME-TIME.KIND in a folder of its own."""
        folder = Path(tempfile.mkdtemp(prefix=f"report-assistant-{name}-"))
        path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.{kind}"
        path.write_text(text, encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def passage_of(citation: dict, status: str | None = None) -> str:
        try:
            doc = assistant.document(citation["doc_id"])
        except KeyError:
            return f'<div class="passage">{_esc(citation["title"])} has been removed from the library.</div>'
        return render_passage(citation, doc.text, doc.author, status)

    def clicked(evt) -> dict:
        return getattr(evt, "_data", None) or {}

    def conversation_click(turns, outlets, since, until, doc_ids, evt):
        """A [n]: its passage. "By outlet": what each outlet says in answer to that turn's question."""
        data = clicked(evt)
        filters = chosen_filters(outlets, since, until, doc_ids) if data.get("outlets") else None
        try:
            answer = turns[int(data["turn"])]["answer"]
            if filters is not None:
                comparison = service.compare(answer["query"] or answer["question"], filters=filters)
                result = comparison.model_dump(mode="json")
                return gr.skip(), render_outlets(result), result
            citation = next(c for c in answer["citations"] if c["marker"] == int(data["marker"]))
        except (KeyError, IndexError, StopIteration, TypeError, ValueError):
            return gr.skip(), gr.skip(), gr.skip()
        return passage_of(citation), gr.skip(), gr.skip()

    def outlet_click(comparison, evt):
        marker = clicked(evt).get("marker")
        citation = next((o["citation"] for o in (comparison or {}).get("outlets", [])
                         if o["citation"] and o["citation"]["marker"] == marker), None)
        return gr.skip() if citation is None else passage_of(citation, "What this outlet says.")

    def build_timeline(topic, outlets, since, until):
        if not topic or not topic.strip():
            return gr.skip(), gr.skip()
        result = service.timeline(topic, filters=chosen_filters(outlets, since, until)).model_dump(mode="json")
        return result, render_timeline(result)

    def timeline_click(timeline, evt):
        marker = clicked(evt).get("marker")
        citation = next((c for section in TIMELINE_SECTIONS
                         for e in (timeline or {}).get(section, []) for c in e["citations"] if c["marker"] == marker),
                        None)
        return gr.skip() if citation is None else passage_of(citation, "The event as this report states it.")

    def export_timeline(timeline, kind):
        from ..models import Timeline
        from ..read.timeline_export import to_csv, to_markdown

        if not timeline:
            return gr.skip()
        result = Timeline.model_validate(timeline)
        return download("timeline", kind, to_markdown(result) if kind == "md" else to_csv(result))

    # Gradio finds the event data by the parameter's type; with postponed annotations it sees only a string.
    for handler in (conversation_click, outlet_click, timeline_click):
        handler.__annotations__["evt"] = gr.EventData

    def ingest(files, progress=gr.Progress(track_tqdm=True)):
        paths, rows = stage_uploads([Path(f if isinstance(f, str) else f.name) for f in files or []], uploads)
        if paths:  # questions go on meanwhile: they see each report whole, before or after (store.py)
            for path in paths:  # where every server over a shared catalog can read it (docs/scale-out.md)
                assistant.store.catalog.keep_upload(path)
            report = assistant.ingest(paths, progress=True)
            for d in report.documents:
                rows.append([Path(d.path).name, d.status, d.doc_id or "", d.chunks, d.error or ""])
        return (rows, library_rows(), *choices())

    def remove(doc_ids, query):
        removed = assistant.remove(doc_ids or [])
        message = f"Removed {len(removed)} document(s): {', '.join(removed)}" if removed else "Nothing removed."
        return (message, library_rows(query), *choices())

    def export(turns, kind):
        return download("conversation", kind, export_markdown(turns) if kind == "md" else export_json(turns, assistant))

    def api_ask(question: str) -> str:
        """The same JSON text as `assistant ask --json`. Text, not a dict: gradio_client would take each
        citation's "path" for a file to download."""
        return json.dumps(service.ask(question).model_dump(mode="json"), ensure_ascii=False, indent=2)

    with gr.Blocks(title="Report Assistant", analytics_enabled=False) as app:
        turns = gr.State([])
        comparison = gr.State(None)
        timeline = gr.State(None)
        gr.Markdown("## Report Assistant\nAnswers come from your reports only; every sentence cites its source.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=320):
                    conversation = gr.HTML(render_conversation([]), js_on_load=CLICK_JS, elem_id="conversation",
                                           padding=True, min_height=200)
                    with gr.Row():
                        box = gr.Textbox(placeholder="Ask about the reports...", label="Question", autofocus=True,
                                         scale=5, elem_id="question")
                        ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                    gr.Examples(EXAMPLES, inputs=box, label="Examples")
                    with gr.Row():
                        export_md = gr.Button("Export Markdown", size="sm")
                        export_js = gr.Button("Export JSON", size="sm")
                        clear = gr.Button("New conversation", size="sm")
                    exported = gr.File(label="Export", visible=False, interactive=False, elem_id="export")
                with gr.Column(scale=2, min_width=300):
                    by_outlet = gr.HTML("", js_on_load=CLICK_JS, elem_id="by-outlet", padding=True)
                    passage = gr.HTML('<div class="passage">Click a [n] in an answer to read its source here.'
                                      "</div>", elem_id="passage", padding=True)
                    with gr.Accordion("Filters", open=False):
                        outlets = gr.Dropdown([], multiselect=True, label="Outlets", elem_id="outlets")
                        with gr.Row():
                            since = gr.Textbox(label="Since", placeholder="YYYY[-MM[-DD]]", min_width=100)
                            until = gr.Textbox(label="Until", placeholder="YYYY[-MM[-DD]]", min_width=100)
                        doc_filter = gr.Dropdown([], multiselect=True, label="Documents")
                    with gr.Accordion("Settings", open=False):
                        answerer = gr.Dropdown(answerers, value=answerers[-1][1], label="Answerer")
                        top_k = gr.Slider(1, 30, value=assistant.settings.top_k, step=1, label="Passages (top-k)")
                        strict = gr.Checkbox(value=assistant.settings.strict,
                                             label="Strict: remove sentences no passage supports")
            with gr.Tab("Timeline", id="timeline"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=320):
                    with gr.Row():
                        topic = gr.Textbox(placeholder="e.g. Kim Jong Un's trip to Russia", label="Topic", scale=5,
                                           elem_id="timeline-topic")
                        build = gr.Button("Build timeline", variant="primary", scale=1, min_width=80,
                                          elem_id="timeline-build")
                    timeline_view = gr.HTML(render_timeline(None), js_on_load=CLICK_JS, elem_id="timeline",
                                            padding=True, min_height=120)
                    with gr.Row():
                        timeline_md = gr.Button("Export Markdown", size="sm", elem_id="timeline-md")
                        timeline_csv = gr.Button("Export CSV", size="sm", elem_id="timeline-csv")
                    timeline_file = gr.File(label="Export", visible=False, interactive=False, elem_id="timeline-export")
                with gr.Column(scale=2, min_width=300):
                    timeline_passage = gr.HTML('<div class="passage">Click an event to read it in its report.</div>',
                                               elem_id="timeline-passage", padding=True)
                    with gr.Accordion("Filters", open=False):
                        timeline_outlets = gr.Dropdown([], multiselect=True, label="Outlets")
                        with gr.Row():
                            timeline_since = gr.Textbox(label="Since", placeholder="YYYY[-MM[-DD]]", min_width=100)
                            timeline_until = gr.Textbox(label="Until", placeholder="YYYY[-MM[-DD]]", min_width=100)
            with gr.Tab("Library", id="library"):
                files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Drop reports here",
                                elem_id="upload")
                add = gr.Button("Add to library", variant="primary", elem_id="add")
                results = gr.Dataframe(headers=["file", "status", "doc_id", "chunks", "error"], label="Ingest results",
                                       interactive=False, wrap=True, elem_id="ingest-results")
                search = gr.Textbox(label="Search the library", placeholder="title, outlet or id")
                library = gr.Dataframe(library_rows(), headers=["doc_id", "title", "outlet", "date", "chunks"],
                                       column_widths=["24%", "44%", "16%", "10%", "6%"],
                                       label="Documents", interactive=False, wrap=True, elem_id="library")
                with gr.Row():
                    to_remove = gr.Dropdown([], multiselect=True, label="Remove documents", scale=4,
                                            elem_id="remove-picker")
                    remove_button = gr.Button("Remove", variant="stop", scale=1, elem_id="remove")
                removed = gr.Markdown(elem_id="removed")

        ask_inputs = [box, turns, outlets, since, until, doc_filter, answerer, top_k, strict]
        # Gradio runs one call of an event at a time unless told: questions get as many as the service's
        # gate lets through at once (more would only wait there); uploads and removals keep one.
        parallel = service.workers
        box.submit(respond, ask_inputs, [turns, conversation, box], api_visibility="private",
                   concurrency_limit=parallel, concurrency_id="questions")
        ask_button.click(respond, ask_inputs, [turns, conversation, box], api_visibility="private",
                         concurrency_limit=parallel, concurrency_id="questions")
        conversation.click(conversation_click, [turns, outlets, since, until, doc_filter],
                           [passage, by_outlet, comparison], api_visibility="private",
                           concurrency_limit=parallel, concurrency_id="questions")
        by_outlet.click(outlet_click, [comparison], [passage], api_visibility="private")
        timeline_inputs = [topic, timeline_outlets, timeline_since, timeline_until]
        for trigger in (topic.submit, build.click):
            trigger(build_timeline, timeline_inputs, [timeline, timeline_view], api_visibility="private",
                    concurrency_limit=parallel, concurrency_id="questions")
        timeline_view.click(timeline_click, [timeline], [timeline_passage], api_visibility="private")
        timeline_md.click(lambda t: export_timeline(t, "md"), [timeline], [timeline_file], api_visibility="private")
        timeline_csv.click(lambda t: export_timeline(t, "csv"), [timeline], [timeline_file], api_visibility="private")
        clear.click(lambda: ([], render_conversation([])), None, [turns, conversation], api_visibility="private")
        export_md.click(lambda t: export(t, "md"), [turns], [exported], api_visibility="private")
        export_js.click(lambda t: export(t, "json"), [turns], [exported], api_visibility="private")
        add.click(ingest, [files], [results, library, outlets, doc_filter, to_remove, timeline_outlets],
                  api_visibility="private")
        search.change(library_rows, [search], [library], api_visibility="private")
        remove_button.click(remove, [to_remove, search],
                            [removed, library, outlets, doc_filter, to_remove, timeline_outlets],
                            api_visibility="private")
        app.load(choices, None, [outlets, doc_filter, to_remove, timeline_outlets], api_visibility="private")
        gr.api(api_ask, api_name="ask", concurrency_limit=parallel, concurrency_id="questions")
    return app

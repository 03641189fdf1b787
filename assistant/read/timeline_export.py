"""A timeline as a journalist takes it away: Markdown to paste into a draft, CSV for a spreadsheet. Background
and expected rows come under their own headings (Markdown) or with their kind (CSV), after the events."""

from __future__ import annotations

import csv
import io

from ..models import TIMELINE_SECTIONS, Timeline


def to_markdown(timeline: Timeline) -> str:
    """The timeline as a journalist pastes it into a draft: one bullet an event, sources linked; background
    and expected rows under headings of their own."""
    lines = [f"# Timeline: {timeline.topic}", ""]
    for name in TIMELINE_SECTIONS:
        rows = getattr(timeline, name)
        if name != "events" and rows:
            lines += [f"## {name.capitalize()}", ""]
        for e in rows:
            sources = "; ".join(f"[{c.source or c.title}, {c.date or 'undated'}]({c.url})" if c.url
                                else f"{c.source or c.title}, {c.date or 'undated'} ({c.path})" for c in e.citations)
            when = e.date + (f" ({e.date_note})" if e.date_note else "")
            lines.append(f"- **{when}**: {e.text} ({sources})")
            for c in e.conflicts:
                lines.append(f"  - ⚠ dated {c.date} by another report (event {c.event + 1})")
        if rows:
            lines.append("")
    return "\n".join(lines)


def to_csv(timeline: Timeline) -> str:
    """date, precision, date_source, event, outlets, links, conflicting dates and kind (event, background or
    expected): one row a timeline row, events first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "precision", "date_source", "event", "outlets", "links", "conflicting_dates", "kind"])
    for name in TIMELINE_SECTIONS:
        for e in getattr(timeline, name):
            writer.writerow([e.date, e.precision, e.date_source, e.text, "; ".join(e.outlets),
                             " ".join(c.url or f"{c.path}#{c.start}-{c.end}" for c in e.citations),
                             "; ".join(c.date for c in e.conflicts), e.kind])
    return out.getvalue()

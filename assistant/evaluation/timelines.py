"""Score timelines against a timeline set (evals/sets/timelines.jsonl; evals/README.md, "Timeline sets").

Each topic of a set lists its events (date, precision, phrases that identify an event's sentence; the
key ones marked), its background and its forecasts, written from the reports before anything was run.
A row of a timeline "is" an event when its sentence holds one of the event's phrases; its date is right
when it lies in the event's period at no coarser a precision. Per topic and over a split of topics:

- event recall: the key events some row lists at the right date;
- date accuracy: the listed rows that are an event of the topic and whose date is right;
- precision: the listed rows that are an event of the topic;
- quotes exact: the citations (events, background, expected) whose quote is their report's text.

Intervals resample the topics (a cluster bootstrap: events of one topic are not independent), each figure
the ratio of the resampled sums.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..models import TIMELINE_SECTIONS
from ..read.dates import period
from .stats import RESAMPLES, SEED, ratio_interval

if TYPE_CHECKING:
    from ..core import Assistant

PRECISIONS = ("day", "week", "month", "year")
# metric: (numerator, denominator) of the per-topic counts
METRICS = {"event_recall": ("key_found", "key_events"), "date_accuracy": ("dated_right", "topical_rows"),
           "precision": ("topical_rows", "rows"), "quotes_exact": ("quotes_exact", "quotes")}


class Dated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str
    dates: list[str] = []
    precision: str = "day"
    key: bool = False
    match: list[str] = Field(min_length=1)


class TimelineCase(BaseModel):
    """One topic of a timeline set. Unknown fields are refused: a misspelt field would score nothing."""

    model_config = ConfigDict(extra="forbid")

    id: str
    topic: str
    corpus: str
    split: str = Field(pattern="^(fit|held)$")
    events: list[Dated] = Field(min_length=1)
    background: list[Dated] = []
    expected: list[Dated] = []


def load_timeline_set(path: str | Path) -> list[TimelineCase]:
    """Read a timeline set; a bad line raises ValueError naming the file and line."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = TimelineCase.model_validate_json(line)
            for item in case.events + case.background:
                if item.precision not in PRECISIONS or not item.dates:
                    raise ValueError(f"event {item.what!r}: needs dates and a precision among {PRECISIONS}")
                for d in item.dates:
                    _period(d, item.precision)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not a timeline topic ({exc})") from exc
        cases.append(case)
    return cases


def declared_corpora(set_path: str | Path) -> dict[str, Path]:
    """The corpora a timeline set's topics are over, by name, from the TOML file beside it
    (`timelines.toml`, table `corpora`: name = path relative to that file)."""
    import tomllib

    sidecar = Path(set_path).with_suffix(".toml")
    if not sidecar.is_file():
        return {}
    try:
        declared = tomllib.loads(sidecar.read_text(encoding="utf-8")).get("corpora", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{sidecar}: not valid TOML ({exc})") from exc
    return {name: sidecar.parent / path for name, path in declared.items()}


def _period(iso: str, precision: str) -> tuple[date, date]:
    """The first and last day of a date at its precision ("2023-09" month: 1-30 September)."""
    parts = [int(p) for p in iso.split("-")]
    # An alternative date may be coarser than the event's precision ("2022" beside "2022-09"): its form says.
    precision = {1: "year", 2: "month"}.get(len(parts), precision if precision in ("day", "week") else "day")
    if len(parts) > 3:
        raise ValueError(f"{iso!r} is not an ISO date")
    return period(date(*parts, *[1] * (3 - len(parts))), precision)


def date_right(row: dict, item: Dated) -> bool:
    """The row's date lies in one of the item's periods, at the same or a finer precision."""
    try:
        start, end = _period(row["date"], row["precision"])
    except ValueError:
        return False
    for lo, hi in (_period(d, item.precision) for d in item.dates):
        if lo <= start <= hi and (end - start) <= (hi - lo):  # no coarser than the period it falls in
            return True
    return False


def matches(row: dict, item: Dated) -> bool:
    text = " ".join(row["text"].split()).lower()
    return any(" ".join(p.split()).lower() in text for p in item.match)


def score_topic(case: TimelineCase, timeline: dict, texts: dict[str, str]) -> dict:
    """The counts of one topic (see the module's docstring) and its rows, each marked."""
    rows = timeline["events"]
    missed = [e.what for e in case.events if e.key and not any(matches(r, e) and date_right(r, e) for r in rows)]
    key_events = sum(e.key for e in case.events)
    counts = {"key_events": key_events, "key_found": key_events - len(missed), "rows": len(rows),
              "topical_rows": 0, "dated_right": 0, "background_as_events": 0, "expected_as_events": 0}
    marked = []
    for r in rows:
        events = [e for e in case.events if matches(r, e)]
        right = any(date_right(r, e) for e in events)
        counts["topical_rows"] += bool(events)
        counts["dated_right"] += right
        counts["background_as_events"] += not events and any(matches(r, e) for e in case.background)
        counts["expected_as_events"] += not events and any(matches(r, e) for e in case.expected)
        marked.append({"date": r["date"], "precision": r["precision"], "text": r["text"],
                       "event": events[0].what if events else None, "date_right": right if events else None})
    quotes = [c for section in TIMELINE_SECTIONS for r in timeline.get(section, [])
              for c in r["citations"]]
    counts["quotes"] = len(quotes)
    counts["quotes_exact"] = sum(texts[c["doc_id"]][c["start"]:c["end"]] == c["quote"] for c in quotes)
    return {"id": case.id, "topic": case.topic, "corpus": case.corpus, "split": case.split, "counts": counts,
            "missed": missed, "rows": marked, "background": [r["text"] for r in timeline.get("background", [])],
            "expected": [r["text"] for r in timeline.get("expected", [])],
            "latency_ms": timeline["timings_ms"]["total"]}


def cited_texts(timeline: dict, texts: dict[str, str], document: Callable) -> dict[str, str]:
    """`texts` with the text of every report the timeline cites added (read once)."""
    for section in TIMELINE_SECTIONS:
        for r in timeline.get(section, []):
            for c in r["citations"]:
                if c["doc_id"] not in texts:
                    texts[c["doc_id"]] = document(c["doc_id"]).text
    return texts


def summarize(records: Sequence[dict], resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """Each metric over the records' topics, with its 95% interval (topics resampled)."""
    out = {"topics": len(records)}
    for name, (num, den) in METRICS.items():
        n = np.array([r["counts"][num] for r in records], dtype=float)
        d = np.array([r["counts"][den] for r in records], dtype=float)
        out[name] = round(float(n.sum() / d.sum()), 4) if d.sum() else None
        out[f"{name}_interval"] = ratio_interval(n, d, resamples, seed) if d.sum() else None
        out[f"{name}_counts"] = [int(n.sum()), int(d.sum())]
    for extra in ("background_as_events", "expected_as_events"):
        out[extra] = int(sum(r["counts"][extra] for r in records))
    return out


def run_timeline_eval(assistant: Assistant, cases: Sequence[TimelineCase], out: Path,
                      resamples: int = RESAMPLES) -> dict:
    """Build every topic's timeline, score it, and write per_topic.jsonl, summary.json and report.md into
    `out`. The summary has a figure set per split and over all topics."""
    out.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    records = []
    for case in cases:
        result = assistant.timeline(case.topic).model_dump(mode="json")
        records.append(score_topic(case, result, cited_texts(result, texts, assistant.document)))
    with open(out / "per_topic.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    summary = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "resamples": resamples,
               "splits": {split: summarize([r for r in records if r["split"] == split], resamples)
                          for split in ("fit", "held") if any(r["split"] == split for r in records)}}
    summary["splits"]["all"] = summarize(records, resamples)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (out / "report.md").write_text(report(summary, records), encoding="utf-8")
    return summary


def figure(summary: dict, name: str) -> str:
    value, bounds = summary[name], summary[f"{name}_interval"]
    if value is None:
        return "n/a"
    num, den = summary[f"{name}_counts"]
    interval = f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else ""  # none with --resamples 0
    return f"{value:.3f}{interval} ({num}/{den})"


def report(summary: dict, records: Sequence[dict]) -> str:
    """The figures per split, then each topic: its counts, the key events it missed, its rows marked."""
    lines = ["# Timeline evaluation", "", f"{summary['created']}; intervals: 95%, {summary['resamples']:,} "
             "resamples of the topics.", "", "| split | topics | " + " | ".join(METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for split, s in summary["splits"].items():
        lines.append(f"| {split} | {s['topics']} | " + " | ".join(figure(s, m) for m in METRICS) + " |")
    for r in records:
        c = r["counts"]
        lines += ["", f"## {r['topic']} ({r['id']}, {r['split']})", "",
                  f"key events found {c['key_found']}/{c['key_events']}; dates right {c['dated_right']}/"
                  f"{c['topical_rows']}; rows of the topic {c['topical_rows']}/{c['rows']}; quotes exact "
                  f"{c['quotes_exact']}/{c['quotes']}; {r['latency_ms']:.0f} ms"]
        lines += [f"- missed: {what}" for what in r["missed"]]
        for row in r["rows"]:
            mark = "·" if row["event"] is None else ("✓" if row["date_right"] else "✗ date")
            lines.append(f"  - {mark} {row['date']} {row['text'][:160]}")
        lines += [f"  - background: {t[:160]}" for t in r["background"]]
        lines += [f"  - expected: {t[:160]}" for t in r["expected"]]
    return "\n".join(lines) + "\n"

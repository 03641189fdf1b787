"""Timeline and by-outlet latency on an existing store: first reading and again; prints figures, asserts nothing.

  .venv/bin/python -m assistant ingest ../shared/data/realtimeqa/docs.jsonl --store DIR   (once, ~40 min)
  .venv/bin/python evals/benchmarks/timeline.py DIR [--record]

Works on a copy of DIR whose embedding cache keeps the chunk vectors only (what an ingest leaves), so that
the first pass reads every sentence for the first time, as a journalist's first timeline of a topic does;
the second pass asks again. The topics are stories in the news of January 2023 (the RealTimeQA pages),
written down before any was run. Every quote is checked against its report's text, and the first pass's
timelines are scored against their topics in evals/sets/timelines.jsonl (fit and held apart).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import p50, p95, record
from scale import first_reading_copy

SET = Path(__file__).resolve().parents[1] / "sets" / "timelines.jsonl"

TOPICS = [
    "Damar Hamlin's cardiac arrest and recovery",
    "the House speaker vote and Kevin McCarthy",
    "the FAA NOTAM outage and flight delays",
    "Donovan Mitchell's 71-point game",
    "storms and flooding in California",
    "Pelé's death and funeral",
    "Pope Emeritus Benedict XVI's funeral",
    "Jacinda Ardern's resignation",
    "layoffs at Microsoft, Amazon and Google",
    "classified documents found at Biden's office and home",
    "the Golden Globes 2023",
    "the Mega Millions jackpot",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path)
    parser.add_argument("--topics", type=int, default=len(TOPICS), help="only the first N topics")
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        lines = _measure(first_reading_copy(args.store, Path(work)), TOPICS[:args.topics])
    print("\n".join(lines))
    if args.record:
        record("Timeline and by-outlet latency", lines)


def _measure(store: Path, topics: list[str]) -> list[str]:
    from assistant import Assistant
    from assistant.evaluation.timelines import METRICS, figure, load_timeline_set, score_topic, summarize

    cases = {c.topic: c for c in load_timeline_set(SET)}
    assistant = Assistant(store=store)
    assistant.ask("Which reports are in the store?")  # loads the model and the answerer: start-up is apart
    texts: dict[str, str] = {}
    passes, events, inexact, quotes, dated, scored = [], [], 0, 0, 0, []
    for _ in range(2):
        totals = []
        for topic in topics:
            started = time.perf_counter()
            result = assistant.timeline(topic)
            totals.append((time.perf_counter() - started) * 1000)
            for e in result.events + result.background + result.expected:
                for c in e.citations:
                    if c.doc_id not in texts:
                        texts[c.doc_id] = assistant.document(c.doc_id).text
                    quotes += 1
                    inexact += texts[c.doc_id][c.start:c.end] != c.quote
            if len(passes) == 0:
                events.append(len(result.events))
                dated += sum(e.date_source == "stated" for e in result.events)
                if topic in cases:
                    scored.append(score_topic(cases[topic], result.model_dump(mode="json"), texts))
        passes.append(totals)
    compares = []
    for topic in topics:
        started = time.perf_counter()
        assistant.compare(f"What happened with {topic}?")
        compares.append((time.perf_counter() - started) * 1000)
    chunks = assistant.store.chunk_count()
    assistant.store.close()
    first, again = passes
    return [f"timeline latency, {chunks:,} chunks, {len(topics)} topics of January 2023 (RealTimeQA pages):",
            f"- first reading: p50 {p50(first):.0f} ms, p95 {p95(first):.0f} ms",
            f"- again: p50 {p50(again):.0f} ms, p95 {p95(again):.0f} ms",
            f"- events per timeline: p50 {p50(events):.0f} (min {min(events)}, max {max(events)}); "
            f"{dated} of {sum(events)} with a stated date",
            f"- quotes checked against their reports: {quotes}, inexact: {inexact}",
            f"- compare by outlet (after the timelines): p50 {p50(compares):.0f} ms, p95 {p95(compares):.0f} ms"] + [
        f"- scores, {split} topics of evals/sets/timelines.jsonl ({len(part)}): "
        + "; ".join(f"{m} {figure(summarize(part), m)}" for m in METRICS)
        for split in ("fit", "held") if (part := [r for r in scored if r["split"] == split])]


if __name__ == "__main__":
    main()

"""Fit the timeline's margins (assistant/read/timeline.py, `Margins`) on the fit topics of a timeline set.

  .venv/bin/python evals/fit_timeline.py evals/sets/timelines.jsonl --store corpus=DIR --store realtimeqa=DIR

Each fit topic's sentences are retrieved and scored once; then every margin of the grid builds and scores
the timelines (evaluation/timelines.py). It prints the grid, best first, by event recall + precision (date
accuracy breaks ties), and never reads the held topics: those are for `assistant eval timeline --split held`.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

SENTENCE = [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
REPORT = [1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0]
BACKGROUND_DAYS = [90, 180, 365]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", type=Path)
    parser.add_argument("--store", action="append", required=True, metavar="CORPUS=DIR",
                        help="the store holding a corpus of the set (repeatable)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant import Assistant
    from assistant.evaluation.timelines import METRICS, load_timeline_set

    stores = dict(s.split("=", 1) for s in args.store)
    cases = [c for c in load_timeline_set(args.set) if c.split == "fit" and c.corpus in stores]
    read = []  # (case, ranked, found, assistant) once per topic
    for corpus, store in stores.items():
        assistant = Assistant(store=Path(store))
        for case in (c for c in cases if c.corpus == corpus):
            ranked, found = assistant.timeline_sentences(case.topic)
            read.append((case, ranked, found, assistant))
    print(f"{len(read)} fit topics: {', '.join(c.id for c, *_ in read)}")
    results = []
    for sentence, report, days in itertools.product(SENTENCE, REPORT, BACKGROUND_DAYS):
        counts = _score(read, sentence, report, days)
        figures = {m: counts[n] / counts[d] if counts[d] else 0.0 for m, (n, d) in METRICS.items()}
        results.append(((figures["event_recall"] + figures["precision"], figures["date_accuracy"],
                         -sentence, -report), sentence, report, days, figures, counts))
    results.sort(key=lambda r: r[0], reverse=True)
    print("sentence report background  recall  dates  precision  quotes  background-as-events expected-as-events")
    for _, sentence, report, days, f, c in results[:15]:
        print(f"{sentence:8.1f} {report:6.1f} {days:10d}  {f['event_recall']:.3f}  {f['date_accuracy']:.3f}  "
              f"{f['precision']:.3f}      {f['quotes_exact']:.3f}  {c['background_as_events']:3d} "
              f"{c['expected_as_events']:3d}")


def _score(read, sentence: float, report: float, days: int) -> dict:
    from assistant.evaluation.timelines import cited_texts, score_topic
    from assistant.models import TIMELINE_SECTIONS
    from assistant.read.compose import citer
    from assistant.read.timeline import Margins, build

    margins = Margins(sentence=sentence, report=report, background_days=days)
    totals: dict[str, int] = {}
    texts: dict[str, str] = {}
    for case, ranked, found, assistant in read:
        sections = build(ranked, found.texts, found.infos, assistant.embed, citer(found), margins, case.topic)
        timeline = {name: [e.model_dump(mode="json") for e in rows]
                    for name, rows in zip(TIMELINE_SECTIONS, sections)}
        timeline["timings_ms"] = {"total": 0.0}
        record = score_topic(case, timeline, cited_texts(timeline, texts, assistant.document))
        for key, value in record["counts"].items():
            totals[key] = totals.get(key, 0) + value
    return totals


if __name__ == "__main__":
    main()

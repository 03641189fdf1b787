"""Ask latency on an existing store: first reading and again; prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/ask_latency.py STORE [--questions Q.jsonl] [--max-questions 50] [--record]

Works on a copy of STORE whose embedding cache keeps the chunk vectors only (what an ingest leaves), so
that the first pass reads every passage for the first time, as a journalist's first questions do; the
second pass asks the same questions again (their sentences cached, as a follow-up's are). Run it with
PYTHONPATH pointing at another checkout to measure that code on the same store (before and after).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import p50, p95, record
from scale import _ask, _questions, first_reading_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path)
    parser.add_argument("--questions", help="an evaluation set (JSONL); the first --max-questions are asked")
    parser.add_argument("--max-questions", type=int, default=50)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        store = first_reading_copy(args.store, Path(work))
        first, again, chunks = _ask(store, _questions(args.questions, args.max_questions))
    lines = [f"ask latency, {chunks:,} chunks, {len(first[1])} questions (extractive):",
             f"- first reading: retrieval p50 {p50(first[0]):.0f} ms, total p50 {p50(first[1]):.0f} ms, "
             f"p95 {p95(first[1]):.0f} ms",
             f"- again: total p50 {p50(again[1]):.0f} ms, p95 {p95(again[1]):.0f} ms"]
    print("\n".join(lines))
    if args.record:
        record("Ask latency", lines)


if __name__ == "__main__":
    main()

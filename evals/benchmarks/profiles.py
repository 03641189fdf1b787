"""Profiles of ingest and of ask (pyinstrument): where the time goes. Writes the call trees, prints their
top, asserts nothing.

  .venv/bin/python evals/benchmarks/profiles.py SOURCE [--questions Q.jsonl] [--out DIR]

Ingests SOURCE into a new store, then asks the questions (the first 20 of Q.jsonl, or a few built-in
ones) twice: the first reading of each passage, then again. The model is loaded before profiling
(start-up has its own benchmark). Writes DIR/ingest.txt and DIR/ask.txt (default:
evals/benchmarks/profiles/).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUESTIONS = ["How many freight cars did satellite images show at Tumangang station?",
             "Where did Kim Jong-un and Vladimir Putin meet?", "What did Seoul warn about arms transfers?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("--questions", help="JSONL with a 'question' field; the first 20 are asked")
    parser.add_argument("--out", default=str(HERE / "profiles"))
    args = parser.parse_args()

    from pyinstrument import Profiler

    from assistant import Assistant

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    assistant = Assistant(store=tempfile.mkdtemp(prefix="bench-profile-"))
    assistant.embed_model, assistant.chunker, assistant.store  # noqa: B018  (start-up is not profiled)
    questions = QUESTIONS
    if args.questions:
        questions = [json.loads(line)["question"] for line in Path(args.questions).read_text().splitlines()
                     if line.strip()][:20]

    profiler = Profiler(interval=0.002)
    with profiler:
        report = assistant.ingest([args.source])
    _write(profiler, out / "ingest.txt", f"ingest of {args.source}: {report.chunks} chunks")

    assistant.ask(questions[0])  # loads the answerer's parts
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(2):
            for q in questions:
                assistant.ask(q)
    _write(profiler, out / "ask.txt", f"{len(questions)} questions asked twice (first reading, then again)")


def _write(profiler, path: Path, title: str) -> None:
    text = profiler.output_text(color=False, unicode=False, short_mode=False)
    path.write_text(f"{title}\n{text}", encoding="utf-8")
    print(f"== {title} ({path})")
    print("\n".join(text.splitlines()[:45]))


if __name__ == "__main__":
    main()

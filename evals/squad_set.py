"""Write an evaluation set of SQuAD 2.0 dev articles ingested as reports (one report per article), for
`assistant eval run`: the reader's held-out articles by default (evals/train_reader.py: HELD_OUT_ARTICLES, never
trained or fit on), or any others.

  .venv/bin/python evals/squad_set.py OUT_DIR [--articles T1 T2 ...] [--questions 150] [--seed 7]
  assistant eval run OUT_DIR/squad.jsonl --out runs/squad-held-out

OUT_DIR gets `reports.jsonl` (the articles), `squad.jsonl` (up to --questions answerable questions and as many
unanswerable ones, seeded) and `squad.toml` naming the reports as the set's corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "evals"))

from calibrate_reader import questions, reports  # noqa: E402
from train_reader import HELD_OUT_ARTICLES, SQUAD_DEV2  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--articles", nargs="+", default=HELD_OUT_ARTICLES)
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    dev = {a["title"]: a for a in json.loads(SQUAD_DEV2.read_text(encoding="utf-8"))["data"]}
    unknown = [t for t in args.articles if t not in dev]
    if unknown:
        raise SystemExit(f"{SQUAD_DEV2}: no article titled {', '.join(unknown)}")
    articles = [dev[t] for t in args.articles]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reports.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reports(articles)))
    cases = [{"id": f"squad-{i:03d}", "question": q["question"], "answerable": q["answerable"],
              "reference_answer": q["answers"][0] if q["answerable"] else "", "answer_aliases": q["answers"][1:],
              "question_type": "factual" if q["answerable"] else "unanswerable", "evidence": []}
             for i, q in enumerate(questions(articles, args.questions, args.seed), start=1)]
    (args.out / "squad.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (args.out / "squad.toml").write_text('corpus = "reports.jsonl"\n')
    print(f"{args.out}: {len(articles)} reports, {len(cases)} questions "
          f"({sum(c['answerable'] for c in cases)} answerable)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

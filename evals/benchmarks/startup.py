"""Start-up benchmark: cold `assistant --help` and cold `assistant ask`, and what their time goes to.
Prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/startup.py [--store DIR] [--runs 3] [--record]

Each run is a new process (the operating system's file cache is warm after the first: that is what a
user who asks twice sees). For `ask`, the store is DIR, or the bundled corpus ingested into a new one.
The breakdown comes from `python -X importtime` (the biggest top-level imports) and the answer's own
timings; the rest is the model load, opening the store and the interpreter.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import p50, record

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How many freight cars did satellite images show at Tumangang station?"
HEAVY = ("torch", "transformers", "sentence_transformers", "chromadb", "llama_index.core", "gradio", "sklearn", "scipy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="a store to ask (default: the bundled corpus, ingested into a new one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    cli = [sys.executable, "-m", "assistant"]
    store = args.store
    if not store:
        store = tempfile.mkdtemp(prefix="bench-startup-")
        subprocess.run([*cli, "ingest", str(ROOT / "corpus"), "--store", store], check=True, stdout=subprocess.DEVNULL)
    ask = [*cli, "ask", QUESTION, "--store", store, "--json"]

    help_s = [_wall([*cli, "--help"]) for _ in range(args.runs)]
    ask_s = [_wall(ask) for _ in range(args.runs)]
    answer_ms = json.loads(subprocess.run(ask, check=True, capture_output=True, text=True).stdout)["timings_ms"]
    ask_imports = _imports(ask)
    top = sorted(ask_imports.items(), key=lambda x: -x[1])[:8]
    imported = sum(ask_imports.values()) / 1e6

    help_all = _imports([*cli, "--help"], nested=True)
    loaded = [m for m in HEAVY if m in help_all]
    lines = ["| figure | measured | goal |", "|---|---|---|",
             f"| `assistant --help`, cold process, p50 of {args.runs} | {p50(help_s):.2f} s | |",
             f"| heavy packages `--help` imports | {', '.join(loaded) or 'none'} | no torch: "
             f"{'met' if 'torch' not in help_all else '**not met**'} |",
             f"| `assistant ask` to the answer, cold process, p50 of {args.runs} | {p50(ask_s):.1f} s | |",
             f"| of which imports (all top-level packages, `-X importtime`) | {imported:.1f} s | |",
             f"| of which answering (retrieval {answer_ms['retrieve']:.0f} ms + answer {answer_ms['answer']:.0f} ms) | "
             f"{answer_ms['total'] / 1000:.2f} s | |",
             "", "Biggest top-level imports of `assistant ask` (cumulative, nested imports included):", "",
             "| package | seconds |", "|---|---|", *(f"| {name} | {us / 1e6:.2f} |" for name, us in top)]
    print("\n".join(lines))
    if args.record:
        record("startup.py", lines)


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _imports(command: list[str], nested: bool = False) -> dict[str, int]:
    """{module: cumulative import microseconds} of one run, from `python -X importtime`: the imports not
    nested in another (so that none is counted twice), or with `nested` all of them."""
    run = subprocess.run([command[0], "-X", "importtime", *command[1:]], check=True, capture_output=True, text=True)
    out = {}
    for line in run.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and (nested or len(match.group(2)) == 1):  # one space: not nested in another import
            out[match.group(3)] = out.get(match.group(3), 0) + int(match.group(1))
    return out


if __name__ == "__main__":
    main()

"""Load on `assistant serve`: prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/serve_load.py [--store DIR] [--clients 20] [--rounds 1]

Starts `assistant serve` on a free loopback port over DIR (the bundled corpus is ingested first if the store
is empty); asks the answerable questions of evals/sets/corpus_questions.jsonl one at a time (the idle
latency), then from N gradio_client clients at once, each in its own thread, each asking R questions in
turn through the `/ask` API. Prints p50/p95/max per request, and answers per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import serving

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "evals" / "sets" / "corpus_questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store folder (default: a new temporary one)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="questions each client asks, one after another")
    args = parser.parse_args()

    from assistant import Assistant

    store = args.store or tempfile.mkdtemp(prefix="bench-serve-")
    if not Assistant(store=store).documents():  # Assistant() also sets the offline environment
        subprocess.run([sys.executable, "-m", "assistant", "ingest", str(ROOT / "corpus"), "--store", store],
                       check=True, stdout=subprocess.DEVNULL)
    questions = [q["question"] for q in map(json.loads, QUESTIONS.read_text().splitlines()) if q["answerable"]]

    from gradio_client import Client

    started = time.perf_counter()
    with serving(store) as (url, _server):
        startup_s = time.perf_counter() - started

        def ask(client, question: str) -> tuple[float, float]:
            began = time.perf_counter()
            data = json.loads(client.predict(question, api_name="/ask"))
            return (time.perf_counter() - began) * 1000, data["timings_ms"]["total"]

        client = Client(url, verbose=False, analytics_enabled=False)
        ask(client, questions[0])  # warm-up: the server loads its models on first use
        idle = [ask(client, q) for q in questions[:10]]
        client.close()

        released: list[float] = []  # when the last client has connected and all start asking
        ready = threading.Barrier(args.clients, action=lambda: released.append(time.perf_counter()))

        def session(i: int) -> list[tuple[float, float]]:
            client = Client(url, verbose=False, analytics_enabled=False)
            ready.wait()
            try:
                return [ask(client, questions[(i * args.rounds + r) % len(questions)]) for r in range(args.rounds)]
            finally:
                client.close()

        with ThreadPoolExecutor(args.clients) as pool:
            loaded = [x for batch in pool.map(session, range(args.clients)) for x in batch]
        wall = time.perf_counter() - released[0]

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, store {store}")
    print(f"serve start-up (to the first page): {startup_s:.1f} s")
    _line(f"idle, 1 client, {len(idle)} questions", idle)
    _line(f"{args.clients} clients at once x {args.rounds} question(s)", loaded)
    print(f"throughput: {len(loaded)} answers in {wall:.1f} s = {len(loaded) / wall:.2f} answers/s "
          f"(idle: {1000 / statistics.mean(ms for ms, _ in idle):.2f} answers/s)")


def _line(label: str, samples: list[tuple[float, float]]) -> None:
    wall = [ms for ms, _ in samples]
    print(f"{label}: p50 {_pct(wall, 50):.0f} ms, p95 {_pct(wall, 95):.0f} ms, max {max(wall):.0f} ms "
          f"(server compute p50 {statistics.median(c for _, c in samples):.0f} ms)")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()

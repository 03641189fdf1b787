"""Several servers over one library (issue 26): prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/scale_out.py --store DIR [--clients 20] [--rounds 5] [--workers 2]

DIR is a store of the 782 RealTimeQA pages (as for serve_load.py). It is copied into a PostgreSQL database and a
Chroma server of this benchmark's own (tests/backends.py starts both; `assistant store copy`'s code copies, no
re-embedding), and into a temporary folder for the one-machine rows. Then, with N clients released together,
each asking R questions of ../shared/data/realtimeqa/qa.jsonl (a different one per request as far as they go):

1. one server over the local store (SQLite catalog, embedded Chroma): the default;
2. one server over PostgreSQL and the Chroma server;
3. two servers over PostgreSQL and the Chroma server, the clients split between them.

Each row prints answers per second, p50, p95 and errors; row 3's throughput is set against row 2's (target:
>= 0.9: coordination costs little). Every server runs `--workers W` questions at once, and all share this
machine's cores, so rows 2 and 3 compare the same cores, not more of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from common import p95, serving

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
REALTIMEQA = ROOT.parent / "shared" / "data" / "realtimeqa"
TIMEOUT = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="a store of the RealTimeQA pages (default settings)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, help="questions each server answers at once (default: the "
                                                    "server's, two per core)")
    args = parser.parse_args()
    if not (REALTIMEQA / "qa.jsonl").is_file():
        print(f"skipped: {REALTIMEQA / 'qa.jsonl'} is absent (the shared folder beside the repository)")
        return
    questions = [json.loads(line)["question"] for line in (REALTIMEQA / "qa.jsonl").read_text().splitlines()
                 if line.strip()]

    from assistant.index.copy import Place, copy_library
    from tests.backends import start_chroma, start_postgres, stop_chroma, stop_postgres

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    pg, chroma = start_postgres(), start_chroma()
    try:
        local = work / "local"
        shutil.copytree(args.store, local, ignore=shutil.ignore_patterns("server.lock", "writer.lock"))
        env = {"ASSISTANT_CATALOG_URL": pg.url, "ASSISTANT_CHROMA_URL": chroma.url}
        began = time.perf_counter()
        counts = copy_library(Place(local), Place(work / "copy", catalog_url=pg.url, chroma_url=chroma.url))
        print(f"machine: {os.cpu_count()} CPUs; {counts['documents']} documents, {counts['chunks']} chunks "
              f"copied into PostgreSQL and the Chroma server in {time.perf_counter() - began:.0f} s")
        flags = ("--workers", str(args.workers)) if args.workers else ()
        print(f"load: {args.clients} clients x {args.rounds} questions; {' '.join(flags) or 'default workers'} "
              "per server\n", flush=True)
        rows = {}
        with serving(local, work / "local.log", args=flags) as (url, _):
            rows["one server, local store (SQLite + embedded Chroma)"] = load([url], questions, args)
        with serving(work / "a", work / "a.log", env=env, args=flags) as (url, _):
            rows["one server, PostgreSQL + Chroma server"] = load([url], questions, args)
        with ExitStack() as stack:
            urls = [stack.enter_context(serving(work / n, work / f"{n}.log", env=env, args=flags))[0]
                    for n in ("a", "b")]
            rows["two servers, PostgreSQL + Chroma server"] = load(urls, questions, args)
        print("| setup | answers/s | p50 ms | p95 ms | errors |\n|---|---|---|---|---|")
        for label, r in rows.items():
            print(f"| {label} | {r['throughput']:.2f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['errors']} |")
        one, two = (rows[k]["throughput"] for k in list(rows)[1:])
        print(f"\ntwo servers / one server on the same backends: {two / one:.2f} (target >= 0.9: "
              f"{'met' if two / one >= 0.9 else 'NOT met'})")
    finally:
        stop_postgres(pg)
        stop_chroma(chroma)
        shutil.rmtree(work, ignore_errors=True)


def load(urls: list[str], questions: list[str], args) -> dict:
    """The clients, spread over `urls`, released together; each asks its questions one after another."""
    asked = iter(range(10**9))
    batches = [[questions[next(asked) % len(questions)] for _ in range(args.rounds)] for _ in range(args.clients)]
    released: list[float] = []
    barrier = threading.Barrier(args.clients, action=lambda: released.append(time.perf_counter()))

    def session(n: int) -> list[tuple[float, bool]]:
        with httpx.Client(base_url=urls[n % len(urls)], timeout=TIMEOUT) as http:
            barrier.wait()
            out = []
            for q in batches[n]:
                began = time.perf_counter()
                ok = http.post("/api/ask", json={"question": q}).status_code == 200
                out.append(((time.perf_counter() - began) * 1000, ok))
            return out

    with ThreadPoolExecutor(args.clients) as pool:
        results = [r for batch in pool.map(session, range(args.clients)) for r in batch]
    wall = time.perf_counter() - released[0]
    ms = [m for m, _ in results]
    return {"throughput": len(results) / wall, "p50": statistics.median(ms), "p95": p95(ms),
            "errors": sum(not ok for _, ok in results)}


if __name__ == "__main__":
    main()

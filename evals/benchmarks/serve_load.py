"""Load on `assistant serve` through its HTTP JSON API: prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/serve_load.py --store DIR [--clients 20] [--rounds 5] [--uploads 200]

DIR is a store of the 782 RealTimeQA pages, built once with
  .venv/bin/python -m assistant ingest ../shared/data/realtimeqa/docs.jsonl --store DIR
It is copied to a temporary folder first (uploads change the copy, never DIR); without --store the pages
are ingested into a temporary store instead, which takes much longer. The questions are the 120 of
../shared/data/realtimeqa/qa.jsonl, a different one for each request as far as they go. Needs ../shared;
without it, says so and exits 0.

1. Warm start: from the server process's start to GET /api/health ready; the first question after it,
   then 10 more one at a time (their median: warm), the ratio first / warm (target <= 1.5), and the server's
   CPU time per question over those 10 (/proc/PID/stat).
2. Load: N clients (threads) released together by a barrier, each asking R questions in turn by POST
   /api/ask. Prints p50/p95/max, answers per second, and the targets: throughput >= 0.8 x cores / (CPU
   time per question), p50 <= 2 s.
3. Writes beside reads: M pages of docs.jsonl as new documents (doc_id "upload-...", title "... (upload
   copy)": chunks the embedding cache has not seen) uploaded in one .jsonl by POST /api/documents, the job
   followed to its end, while a question is fired every 0.5 s, each in its own thread. Prints p95 (target
   <= 2 s), the ingest time, and the answers that are not complete and consistent: an error, an answer with
   no citation or a [n] without its citation, or a citation whose quote is not the text[start:end] of the
   document it names (GET /api/documents/{id} at the end).

--client gradio asks steps 1 and 2 through gradio_client's `/ask` instead (the chat's API).
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import cpu_seconds, machine_busy_seconds, p95, serving

ROOT = Path(__file__).resolve().parents[2]
REALTIMEQA = ROOT.parent / "shared" / "data" / "realtimeqa"
TIMEOUT = 600.0  # seconds for one request: a slow answer is measured, not dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", metavar="SOURCE",
                        help="a store of the RealTimeQA pages, copied before serving (default: ingest them anew)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="questions each client asks, one after another")
    parser.add_argument("--uploads", type=int, default=200, help="pages uploaded in step 3")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between questions in step 3")
    parser.add_argument("--client", choices=["http", "gradio"], default="http",
                        help="how steps 1 and 2 ask: POST /api/ask, or gradio_client's /ask")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (store copy, server log)")
    args = parser.parse_args()

    if not (REALTIMEQA / "docs.jsonl").is_file() or not (REALTIMEQA / "qa.jsonl").is_file():
        print(f"skipped: the RealTimeQA data is not there ({REALTIMEQA}/docs.jsonl, qa.jsonl): "
              "this benchmark needs the shared folder beside the repository")
        return
    if args.store and not Path(args.store).is_dir():
        raise SystemExit(f"--store {args.store}: no such folder (build it: assistant ingest "
                         f"{REALTIMEQA / 'docs.jsonl'} --store DIR)")
    questions = [json.loads(line)["question"] for line in (REALTIMEQA / "qa.jsonl").read_text().splitlines()
                 if line.strip()]
    cores = os.cpu_count() or 1

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        store = work / "store"
        load = os.getloadavg()[0]
        began = time.perf_counter()
        if args.store:
            shutil.copytree(args.store, store, ignore=shutil.ignore_patterns("server.lock", "writer.lock"))
            how = f"a copy of {args.store}, made in {time.perf_counter() - began:.1f} s"
        else:
            print(f"no --store: ingesting {REALTIMEQA / 'docs.jsonl'} into a new store first (slow)", flush=True)
            subprocess.run([sys.executable, "-m", "assistant", "ingest", str(REALTIMEQA / "docs.jsonl"),
                            "--store", str(store)], check=True, stdout=subprocess.DEVNULL)
            how = f"ingested anew in {time.perf_counter() - began:.0f} s"
        print(f"machine: {platform.machine()}, {cores} CPUs, Python {platform.python_version()}, "
              f"load average {load:.1f} at the start")
        print(f"store: {store} ({how})")
        run(args, store, work, questions, cores)
    finally:
        if args.keep:
            print(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, store: Path, work: Path, questions: list[str], cores: int) -> None:
    log = work / "serve.log"
    asked = iter(range(10**9))  # request number: question i % len(questions), so each one differs while they last

    def next_question() -> str:
        return questions[next(asked) % len(questions)]

    started = time.perf_counter()
    with serving(store, log=log) as (url, server):
        startup_s = time.perf_counter() - started
        with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
            health = http.get("/api/health").json()
        said = re.search(r"Ready in ([\d.]+) s", log.read_text(errors="replace"))
        print(f"server: pid {server.pid}, {health['documents']} documents, {health['workers']} workers, log {log}")

        # 1. warm start
        print("\n1. warm start")
        print(f"process start -> /api/health ready: {startup_s:.1f} s"
              + (f" (the server says: ready in {said.group(1)} s)" if said else ""))
        client = Asker(url, args.client)
        first = client.ask(next_question())
        meter = Meter(server.pid)
        warm = [client.ask(next_question()) for _ in range(10)]
        cpu_per_question = meter.server() / len(warm)
        client.close()
        warm_ms = statistics.median(r.ms for r in warm)
        ratio = first.ms / warm_ms
        print(f"first question after ready: {first.ms:.0f} ms (server compute {first.compute:.0f} ms)")
        _line(f"{len(warm)} warm questions, one at a time", warm)
        print(f"first / warm median: {ratio:.2f} (target <= 1.5: {_met(ratio <= 1.5)})")
        print(f"server CPU time per question (over the {len(warm)}): {cpu_per_question:.2f} s; {meter}")
        _errors(first, *warm)

        # 2. load
        print(f"\n2. load: {args.clients} clients at once x {args.rounds} questions each")
        batches = [[next_question() for _ in range(args.rounds)] for _ in range(args.clients)]
        released: list[float] = []  # when the last client is ready and all start asking
        barrier = threading.Barrier(args.clients, action=lambda: released.append(time.perf_counter()))

        def session(mine: list[str]) -> list[Result]:
            client = Asker(url, args.client)
            barrier.wait()
            try:
                return [client.ask(q) for q in mine]
            finally:
                client.close()

        meter = Meter(server.pid)
        with ThreadPoolExecutor(args.clients) as pool:
            loaded = [r for batch in pool.map(session, batches) for r in batch]
        wall = time.perf_counter() - released[0]
        cpu_load = meter.server()
        throughput = len(loaded) / wall
        target = 0.8 * cores / cpu_per_question
        _line("latency", loaded)
        print(f"throughput: {len(loaded)} answers in {wall:.1f} s = {throughput:.2f} answers/s; target >= 0.8 x "
              f"{cores} cores / {cpu_per_question:.2f} s = {target:.2f} answers/s: {_met(throughput >= target)}")
        p50_s = statistics.median(r.ms for r in loaded) / 1000
        print(f"p50 {p50_s:.2f} s (target <= 2.0 s: {_met(p50_s <= 2.0)})")
        print(f"server CPU time per answer under load: {cpu_load / len(loaded):.2f} s; {meter}")
        _errors(*loaded)

        # 3. writes beside reads
        print(f"\n3. writes beside reads: {args.uploads} pages uploaded while a question is asked every "
              f"{args.every:g} s")
        upload = _upload_file(work, args.uploads)
        results: list[Result] = []
        threads: list[threading.Thread] = []
        done = threading.Event()

        def fire() -> None:
            question = next_question()

            def one() -> None:
                with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
                    results.append(_ask_http(http, question))

            thread = threading.Thread(target=one)
            thread.start()
            threads.append(thread)

        def ticker(t0: float) -> None:
            tick = 0
            while not done.is_set():
                fire()
                tick += 1
                done.wait(max(0.0, t0 + tick * args.every - time.perf_counter()))

        meter = Meter(server.pid)
        t0 = time.perf_counter()
        asking = threading.Thread(target=ticker, args=(t0,))
        asking.start()
        try:
            job, ingest_s = _ingest(url, upload)
        finally:
            done.set()
            asking.join()
        for thread in list(threads):
            thread.join()
        result = job.get("result") or {}
        print(f"ingest: {ingest_s:.1f} s from the POST to done as followed"
              + (f" (the job: {job['finished'] - job['created']:.0f} s)" if job.get("finished") else "")
              + f", status {job.get('status')}"
              + (f", error {job['error']}" if job.get("error") else "")
              + f"; added {result.get('added')}, updated {result.get('updated')}, failed {result.get('failed')}, "
                f"{result.get('chunks')} chunks ({result.get('embedded')} encoded; the server says "
                f"{result.get('seconds', 0):.1f} s)")
        _line(f"{len(results)} questions meanwhile", results)
        q95 = p95([r.ms for r in results]) / 1000 if results else float("nan")
        print(f"p95 {q95:.2f} s (target <= 2 s: {_met(q95 <= 2)}); at most {_most_waiting(results)} "
              f"questions in the server at once; {meter}")
        citing = sum(any(c["doc_id"].startswith("upload-") for c in r.citations) for r in results)
        print(f"answers citing an uploaded page: {citing} of {len(results)}")
        with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
            bad = _inconsistent(http, results)
            library = http.get("/api/documents").json()
        print(f"inconsistent answers: {len(bad)} of {len(results)} (expected 0)")
        for r, why in bad[:10]:
            print(f"  - {r.question[:70]!r}: {why}")
        print(f"documents after: {len(library)} ({sum(d['doc_id'].startswith('upload-') for d in library)} "
              "uploaded)")


class Meter:
    """CPU time used since it was made: by the server process, and by everything on the machine."""

    def __init__(self, pid: int):
        self.pid, self.wall, self.cpu, self.busy = pid, time.perf_counter(), cpu_seconds(pid), machine_busy_seconds()

    def server(self) -> float:
        return cpu_seconds(self.pid) - self.cpu

    def __str__(self) -> str:
        wall = time.perf_counter() - self.wall
        server, everything = self.server(), machine_busy_seconds() - self.busy
        return (f"cores busy over {wall:.0f} s: server {server / wall:.2f}, everything else (this script, other "
                f"work) {(everything - server) / wall:.2f}, of {os.cpu_count()}")


class Result:
    def __init__(self, question: str, ms: float, data: dict | None = None, error: str | None = None):
        self.question, self.ms, self.data, self.error = question, ms, data or {}, error
        self.end = time.perf_counter()
        self.start = self.end - ms / 1000
        self.compute = self.data.get("timings_ms", {}).get("total", float("nan"))
        self.citations = self.data.get("citations") or []


class Asker:
    """One client: POST /api/ask with its own connection, or a gradio_client Client."""

    def __init__(self, url: str, kind: str):
        self.kind = kind
        if kind == "gradio":
            from gradio_client import Client

            self.client = Client(url, verbose=False, analytics_enabled=False)
        else:
            self.client = httpx.Client(base_url=url, timeout=TIMEOUT)

    def ask(self, question: str) -> Result:
        if self.kind == "http":
            return _ask_http(self.client, question)
        began = time.perf_counter()
        try:
            data = json.loads(self.client.predict(question, api_name="/ask"))
        except Exception as exc:
            return Result(question, (time.perf_counter() - began) * 1000, error=f"{type(exc).__name__}: {exc}")
        return Result(question, (time.perf_counter() - began) * 1000, data)

    def close(self) -> None:
        self.client.close()


def _ask_http(http: httpx.Client, question: str) -> Result:
    began = time.perf_counter()
    try:
        response = http.post("/api/ask", json={"question": question})
    except httpx.HTTPError as exc:
        return Result(question, (time.perf_counter() - began) * 1000, error=f"{type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        return Result(question, ms, error=f"HTTP {response.status_code}: {response.text[:200]}")
    return Result(question, ms, response.json())


def _upload_file(work: Path, pages: int) -> Path:
    """The first `pages` lines of docs.jsonl as new documents, in one .jsonl."""
    lines = (REALTIMEQA / "docs.jsonl").read_text(encoding="utf-8").splitlines()[:pages]
    path = work / "upload.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            doc = json.loads(line)
            doc["doc_id"] = f"upload-{doc['doc_id']}"
            doc["title"] = f"{doc['title']} (upload copy)"
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path


def _ingest(url: str, path: Path) -> tuple[dict, float]:
    """POST the file, follow its job to the end: (the job's JSON, seconds from the POST to done)."""
    began = time.perf_counter()
    with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
        with path.open("rb") as f:
            response = http.post("/api/documents", files=[("files", (path.name, f, "application/x-ndjson"))])
        if response.status_code == 200:
            return {"status": "done", "result": response.json()}, time.perf_counter() - began
        if response.status_code != 202:
            return {"status": f"HTTP {response.status_code}", "error": response.text[:500]}, time.perf_counter() - began
        follow = response.json()["url"]
        while True:
            job = http.get(follow).json()
            if job["status"] in ("done", "failed"):
                for key in ("created", "finished"):  # ISO seconds, UTC
                    if job.get(key):
                        job[key] = calendar.timegm(time.strptime(job[key], "%Y-%m-%dT%H:%M:%SZ"))
                return job, time.perf_counter() - began
            time.sleep(0.25)


def _inconsistent(http: httpx.Client, results: list[Result]) -> list[tuple[Result, str]]:
    """The answers that are not complete and consistent, and why."""
    texts: dict[str, str | None] = {}

    def text(doc_id: str) -> str | None:
        if doc_id not in texts:
            response = http.get(f"/api/documents/{doc_id}")
            texts[doc_id] = response.json()["text"] if response.status_code == 200 else None
        return texts[doc_id]

    bad = []
    for r in results:
        if r.error:
            bad.append((r, r.error))
            continue
        problems = []
        if not isinstance(r.data.get("answer"), str) or "abstained" not in r.data:
            problems.append("no answer field")
        elif not r.data["abstained"] and (not r.data["answer"].strip() or not r.citations):
            problems.append("an answer without citations")
        markers = {c["marker"] for c in r.citations}
        missing = {int(m) for m in re.findall(r"\[(\d+)\]", r.data.get("answer") or "")} - markers
        if missing:
            problems.append(f"[n] without a citation: {sorted(missing)}")
        for c in r.citations:
            doc = text(c["doc_id"])
            if doc is None:
                problems.append(f"cites {c['doc_id']}, which GET /api/documents does not have")
            elif doc[c["start"]:c["end"]] != c["quote"]:
                problems.append(f"[{c['marker']}] {c['doc_id']}[{c['start']}:{c['end']}] is "
                                f"{doc[c['start']:c['end']][:60]!r}, the quote {c['quote'][:60]!r}")
        if problems:
            bad.append((r, "; ".join(problems)))
    return bad


def _most_waiting(results: list[Result]) -> int:
    events = sorted([(r.start, 1) for r in results] + [(r.end, -1) for r in results])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _line(label: str, samples: list[Result]) -> None:
    if not samples:
        print(f"{label}: none")
        return
    wall = [r.ms for r in samples]
    compute = [r.compute for r in samples if not r.error]
    print(f"{label}: p50 {statistics.median(wall):.0f} ms, p95 {p95(wall):.0f} ms, max {max(wall):.0f} ms"
          + (f" (server compute p50 {statistics.median(compute):.0f} ms)" if compute else ""))


def _errors(*results: Result) -> None:
    failed = [r for r in results if r.error]
    if failed:
        print(f"errors: {len(failed)} of {len(results)}, e.g. {failed[0].error}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()

"""assistant/serve/server.py and assistant/index/pg_catalog.py, several servers over one library (issue 26): two
real `assistant serve` processes over one PostgreSQL catalog and one Chroma server, started as
docs/scale-out.md says. An upload through one is answered through the other,
a removal through one is gone from the other, uploads to both at once both land, a question to one sees each
report whole while the other rewrites it, a server killed mid-upload leaves the other answering and its job
failed, and a PostgreSQL restart costs questions a 503, not the servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from .backends import free_port, stop_process
from .conftest import CORPUS, ROOT, new_database

pytestmark = pytest.mark.slow

FREIGHT = "How many freight cars did satellite images show at Tumangang station?"
FERRY = """---
title: Ferry crews walk out in Port Meridian
source: Meridian Ledger
date: 2024-03-01
doc_id: {doc_id}
---
Ferry crews in Port Meridian walked out on Friday, halting all {n} daily crossings to the outer islands.

The union said the strike would last until the port authority reopened pay talks{tail}.
"""
FERRY_QUESTION = "How many daily crossings did the Port Meridian ferry strike halt?"


@dataclass
class Server:
    name: str
    store: Path
    port: int
    env: dict
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        command = [sys.executable, "-m", "assistant", "serve", "--store", str(self.store), "--port", str(self.port)]
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env)

    def wait_ready(self, seconds: float = 240) -> None:
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url + "api/health", timeout=5).json().get("ready"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        pytest.fail(f"server {self.name} not ready in {seconds} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, 30)

    def ask(self, question: str) -> dict:
        import httpx

        r = httpx.post(self.url + "api/ask", json={"question": question}, timeout=120)
        assert r.status_code == 200, (self.name, r.status_code, r.text)
        return r.json()

    def upload(self, name: str, content: bytes | str, media: str = "text/markdown") -> dict:
        import httpx

        r = httpx.post(self.url + "api/documents", files=[("files", (name, content, media))], timeout=300)
        assert r.status_code in (200, 202), (self.name, r.status_code, r.text)
        return r.json()

    def documents(self) -> set[str]:
        import httpx

        return {d["doc_id"] for d in httpx.get(self.url + "api/documents", timeout=60).json()}


@pytest.fixture(scope="module")
def cluster(postgres, chroma_server, tmp_path_factory):
    """Servers A and B over one new PostgreSQL database and one new Chroma collection, holding the corpus
    (ingested once, through the CLI, as docs/scale-out.md does)."""
    folder = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "ASSISTANT_CATALOG_URL": new_database(postgres, f"cluster{uuid.uuid4().hex[:8]}"),
           "ASSISTANT_CHROMA_URL": chroma_server.url, "ASSISTANT_CHROMA_COLLECTION": f"c{uuid.uuid4().hex[:8]}",
           "ASSISTANT_UPLOAD_WAIT_SECONDS": "0", "HF_HUB_OFFLINE": "1"}
    ingest = subprocess.run([sys.executable, "-m", "assistant", "ingest", str(CORPUS), "--store",
                             str(folder / "cli")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    servers = {n: Server(n, folder / n, free_port(), env, folder / f"{n}.log") for n in ("A", "B")}
    for s in servers.values():
        s.start()
    try:
        for s in servers.values():
            s.wait_ready()
        yield servers
    finally:
        for s in servers.values():
            s.stop()


def wait_job(server: Server, job: dict, seconds: float = 300) -> dict:
    """Follow a job to its end on `server` (any server answers for any job)."""
    import httpx

    if "job" not in job:
        return {"status": "done", "result": job}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = httpx.get(server.url + f"api/jobs/{job['job']}", timeout=30).json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.5)
    pytest.fail(f"job {job['job']} did not end in {seconds} s")


def chunks_of(env: dict, doc_ids: set[str] | None = None) -> dict[str, int]:
    """{doc_id: chunks} as the Chroma server holds them."""
    import chromadb

    host, port = env["ASSISTANT_CHROMA_URL"].removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port), settings=chromadb.Settings(anonymized_telemetry=False))
    got = client.get_collection(env["ASSISTANT_CHROMA_COLLECTION"]).get(include=["metadatas"])
    counts: dict[str, int] = {}
    for meta in got["metadatas"]:
        if doc_ids is None or meta["document_id"] in doc_ids:
            counts[meta["document_id"]] = counts.get(meta["document_id"], 0) + 1
    return counts


def test_an_upload_through_one_server_is_answered_through_the_other(cluster):
    a, b = cluster["A"], cluster["B"]
    health = __import__("httpx").get(b.url + "api/health", timeout=30).json()
    assert health["backends"]["catalog"]["kind"] == "postgresql" and health["backends"]["catalog"]["ok"]
    assert health["backends"]["vectors"]["kind"] == "chroma server" and health["backends"]["vectors"]["ok"]
    assert "73" in b.ask(FREIGHT)["citations"][0]["quote"]

    text = FERRY.format(doc_id="ferry-one", n=41, tail="")
    job = a.upload("ferry-one.md", text)
    assert wait_job(b, job)["status"] == "done", "B follows A's job"
    from assistant.index.pg_catalog import PostgresCatalog

    catalog = PostgresCatalog(a.env["ASSISTANT_CATALOG_URL"])
    assert catalog.upload("ferry-one.md") == text.encode(), "the file itself is kept where every server reads it"
    catalog.close()
    answer = b.ask(FERRY_QUESTION)
    assert any(c["doc_id"] == "ferry-one" for c in answer["citations"]) and "41" in answer["answer"]

    import httpx

    assert httpx.delete(b.url + "api/documents/ferry-one", timeout=60).status_code == 200
    assert "ferry-one" not in a.documents()
    assert not any(c["doc_id"] == "ferry-one" for c in a.ask(FERRY_QUESTION)["citations"])


def test_uploads_to_both_servers_at_once_both_land(cluster):
    a, b = cluster["A"], cluster["B"]
    jobs = {}

    def upload(server: Server, n: int) -> None:
        jobs[server.name] = (server, server.upload(f"ferry-{server.name}.md",
                                                   FERRY.format(doc_id=f"ferry-{server.name.lower()}", n=n, tail="")))

    threads = [threading.Thread(target=upload, args=(s, n)) for s, n in ((a, 52), (b, 53))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for server, job in jobs.values():
        assert wait_job(server, job)["status"] == "done"
    assert {"ferry-a", "ferry-b"} <= a.documents() == b.documents()
    counts = chunks_of(a.env, {"ferry-a", "ferry-b"})
    assert counts["ferry-a"] >= 1 and counts["ferry-b"] >= 1
    import httpx

    for doc_id in ("ferry-a", "ferry-b"):
        assert httpx.delete(a.url + f"api/documents/{doc_id}", timeout=60).status_code == 200


def test_a_question_to_one_server_sees_each_report_whole_while_the_other_rewrites_it(cluster):
    a, b = cluster["A"], cluster["B"]
    texts = {}
    seen: list[tuple[float, list]] = []
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        import httpx

        while not stop.is_set():
            started = time.monotonic()
            r = httpx.post(b.url + "api/ask", json={"question": FERRY_QUESTION}, timeout=120)
            if r.status_code != 200:
                errors.append(r.text)
                continue
            seen.append((started, [c for c in r.json()["citations"] if c["doc_id"] == "ferry-many"]))

    version = FERRY.format(doc_id="ferry-many", n=60, tail="")
    assert wait_job(a, a.upload("ferry-many.md", version))["status"] == "done"
    texts[0] = version
    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for n in range(1, 9):
            text = FERRY.format(doc_id="ferry-many", n=60 + n,
                                tail=", " + " and ".join(["the ferry company said"] * n))
            texts[n] = text
            assert wait_job(a, a.upload("ferry-many.md", text))["status"] == "done"
        import httpx

        assert httpx.delete(a.url + "api/documents/ferry-many", timeout=60).status_code == 200
        removed_at = time.monotonic()  # a question begun while the removal ran may still see the report whole
        time.sleep(3)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert not errors, errors[:3]
    assert len(seen) > 5 and any(cites for _, cites in seen)
    for started, cites in seen:
        bodies = [t.split("---\n", 2)[2] for t in texts.values()]
        assert any(all(c["quote"] in body for c in cites) for body in bodies), cites
        if started > removed_at:
            assert not cites, "nothing of a removed report"


def _pages(count: int) -> bytes:
    """A PDF of `count` pages, each a paragraph of its own."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for n in range(count):
        pdf.add_page()
        for part in range(3):
            pdf.multi_cell(0, 6, f"Part {part + 1}. Page {n + 1} of the harbour authority's annual ledger. "
                                 f"On berth {n % 17}, "
                                 f"{(n + part) * 7 % 301} containers of timber and {n * 13 % 97} of grain were "
                                 f"logged in week {n % 52 + 1}, while dredging crews cleared {n * 3 % 41 + part} "
                                 "metres of channel silt. The inspector noted the cranes, the tugs and the pilot "
                                 f"boats in working order, and recorded {n % 9 + part} delays caused by fog, wind "
                                 "and late rail wagons from the interior.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_a_server_killed_mid_upload_leaves_the_other_answering(cluster):
    """kill -9 of A during a 200-page upload: B keeps answering, reports the job failed, and the upload again
    through B lands with the counts of a clean ingest (no duplicates, no orphans)."""
    import httpx

    a, b = cluster["A"], cluster["B"]
    ledger = _pages(200)
    job = httpx.post(a.url + "api/documents", files=[("files", ("ledger.pdf", ledger, "application/pdf"))],
                     timeout=120).json()
    assert "job" in job, "a 200-page upload outlasts upload_wait_seconds"
    deadline = time.monotonic() + 120
    while httpx.get(b.url + f"api/jobs/{job['job']}", timeout=30).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)  # into loading, chunking and encoding
    a.process.send_signal(signal.SIGKILL)
    a.process.wait()
    assert httpx.get(b.url + f"api/jobs/{job['job']}", timeout=30).json()["status"] == "running", "killed mid-way"
    answers, deadline = 0, time.monotonic() + 40  # JOB_STALE_SECONDS after A's last heartbeat, and a margin
    while True:
        assert "73" in b.ask(FREIGHT)["citations"][0]["quote"]
        answers += 1
        state = httpx.get(b.url + f"api/jobs/{job['job']}", timeout=30).json()
        if state["status"] == "failed":
            break
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert "stopped" in state["error"] and answers >= 1

    again = b.upload("ledger.pdf", ledger, "application/pdf")
    done = wait_job(b, again, 900)
    assert done["status"] == "done", done
    ingested = done["result"]["documents"][0]
    docs = json.loads(httpx.get(b.url + "api/documents", timeout=60).text)
    ledgers = [d for d in docs if d["doc_id"] == ingested["doc_id"]]
    assert len(ledgers) == 1, "one report, not two"
    counts = chunks_of(b.env)
    assert counts[ingested["doc_id"]] == ledgers[0]["chunks"] == ingested["chunks"]
    assert set(counts) == {d["doc_id"] for d in docs}, "no chunks of reports the catalog does not hold"
    assert all(counts[d["doc_id"]] == d["chunks"] for d in docs), "no duplicates, no orphans"
    a.start()  # for the tests after this one
    a.wait_ready()


def test_a_postgresql_restart_costs_questions_a_503_not_the_servers(cluster, postgres):
    import httpx

    a, b = cluster["A"], cluster["B"]
    results: list[tuple[float, int, str]] = []
    names: list[str] = []
    stop = threading.Event()

    def ask(server: Server) -> None:
        while not stop.is_set():
            try:
                r = httpx.post(server.url + "api/ask", json={"question": FREIGHT}, timeout=60)
                results.append((time.monotonic(), r.status_code, r.text))
                names.append(server.name)
            except httpx.HTTPError as exc:
                results.append((time.monotonic(), 0, str(exc)))
                names.append(server.name)
            time.sleep(0.1)

    askers = [threading.Thread(target=ask, args=(s,)) for s in (a, b)]
    for t in askers:
        t.start()
    try:
        time.sleep(2)
        postgres.stop()
        time.sleep(15)  # long enough for the pool's back-off to grow
        postgres.start()
        back = time.monotonic()
        time.sleep(12)
    finally:
        stop.set()
        for t in askers:
            t.join()
    codes = {code for _, code, _ in results}
    assert codes <= {200, 503}, [r for r in results if r[1] not in (200, 503)][:3]
    assert 503 in codes, "questions while PostgreSQL was down"
    refused = next(text for _, code, text in results if code == 503)
    assert "PostgreSQL" in json.loads(refused)["error"]
    after = [(t, code) for t, code, _ in results if t > back]
    first = next(t for t, code in after if code == 200)
    refusals = sum(code == 503 for _, code, _ in results)
    print(f"answers resumed {first - back:.1f} s after PostgreSQL was back; {refusals} questions got a 503")
    assert first - back <= 10, "answers resume within 10 s"
    assert all(code == 200 for t, code in after if t > first + 1), [
        (round(t - back, 1), c, n, x[:120]) for (t, c, x), n in zip(results, names)]

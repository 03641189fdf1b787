"""Scale benchmark: ingest, ask latency and memory at 10k and 100k chunks; prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/scale.py BASE_STORE SOURCE.jsonl [--sizes 10000 100000]
                                              [--questions Q.jsonl] [--record]

BASE_STORE holds SOURCE already (e.g. `assistant ingest SOURCE --store BASE_STORE`), so its embedding
cache holds the real vectors of SOURCE's real chunks. For each size N:
- a JSONL of SOURCE's reports, then the same reports again under new doc ids ("-copy2", "-copy3": same
  text, title, outlet and date, so the same chunk texts), until they make N chunks;
- `assistant ingest` of it, in its own process, into a new store that starts with a copy of BASE_STORE's
  embedding cache, its chunk vectors only (sentences cached by earlier questions are left out, so that
  the first reading below is a first reading): the whole ingest path (loading, chunking, Chroma, keyword
  index, catalog) runs, and the encoder's work comes from the cache. Wall time and that process's peak RSS;
- ask latency in this process (retrieval and total, extractive, p50/p95): first reading, then again;
- `assistant serve` on the store answering the questions through `/ask`: its peak RSS.
Copies behave like wire copies: retrieval collapses them into one passage that names them all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import p50, p95, peak_rss_mib, record, serving, vm_hwm_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_store")
    parser.add_argument("source")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--questions", help="an evaluation set (JSONL); the first --max-questions are asked")
    parser.add_argument("--max-questions", type=int, default=50)
    parser.add_argument("--work", help="folder for the stores (default: a new temporary one)")
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    from assistant.index.embed_cache import FILENAME

    base = Path(args.base_store)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = _chunk_vectors(base, work / "chunk-vectors.sqlite")
    chunks_of = dict(sqlite3.connect(base / "catalog.sqlite").execute("SELECT doc_id, chunks FROM documents"))
    questions = _questions(args.questions, args.max_questions)
    lines = ["| chunks | reports | ingest (cache hits) | ingest peak RSS | retrieval p50 / p95 | total p50 / p95, "
             "first reading | total p50 / p95, again | serve peak RSS |", "|---|---|---|---|---|---|---|---|"]
    for size in args.sizes:
        store = work / f"store-{size}"
        store.mkdir(parents=True)
        shutil.copy(cache, store / FILENAME)
        derived, reports = _derive(Path(args.source), chunks_of, size, work / f"source-{size}.jsonl")
        ingest_s, ingest_rss = _ingest(derived, store)
        first, again, chunks = _ask(store, questions)
        serve_rss = _serve_rss(store, questions)
        lines.append(f"| {chunks:,} | {reports:,} | {ingest_s:.0f} s | {ingest_rss:.0f} MiB | {p50(first[0]):.0f} / "
                     f"{p95(first[0]):.0f} ms | {p50(first[1]):.0f} / {p95(first[1]):.0f} ms | {p50(again[1]):.0f} / "
                     f"{p95(again[1]):.0f} ms | {serve_rss:.0f} MiB |")
        print(lines[-1], flush=True)
    lines += ["", f"{len(questions)} questions; goals at 100k chunks: retrieval p50 ≤ 100 ms, total p50 ≤ 300 ms, "
                  f"peak RSS ≤ 2 GiB (ingest and serve). This process's own peak RSS: {peak_rss_mib():.0f} MiB."]
    print("\n".join(lines))
    if args.record:
        record(f"scale.py {args.source} at {', '.join(f'{s:,}' for s in args.sizes)} chunks", lines)


def first_reading_copy(base: Path, work: Path) -> Path:
    """A copy of the store BASE in WORK whose embedding cache keeps the chunk vectors only (what an ingest
    leaves): what a journalist's first questions over it read."""
    import shutil

    from assistant.index.embed_cache import FILENAME

    store = work / "store"
    shutil.copytree(base, store, ignore=shutil.ignore_patterns(f"{FILENAME}*", "*.lock"))
    _chunk_vectors(base, store / FILENAME)
    return store


def _chunk_vectors(base: Path, out: Path) -> Path:
    """A copy of BASE_STORE's embedding cache that keeps only the vectors of its chunks."""
    from llama_index.core.schema import TextNode

    from assistant import Assistant
    from assistant.index.embed_cache import FILENAME, text_key

    assistant = Assistant(store=base)
    keys = []
    collection = assistant.store.collection
    for offset in range(0, collection.count(), 5000):
        got = collection.get(include=["documents", "metadatas"], limit=5000, offset=offset)
        for text, meta in zip(got["documents"], got["metadatas"]):
            node = TextNode.model_validate(json.loads(meta["_node_content"]) | {"text": text})
            keys.append((text_key(assistant.chunker.embed_text(node)),))
    assistant.store.close()
    db = sqlite3.connect(out)
    with sqlite3.connect(base / FILENAME) as source:
        source.backup(db)  # with what is still in its write-ahead log
    with db:
        db.execute("CREATE TEMP TABLE keep (key BLOB PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", keys)
        db.execute("DELETE FROM vectors WHERE key NOT IN (SELECT key FROM keep)")
    db.execute("VACUUM")
    db.close()
    return out


def _derive(source: Path, chunks_of: dict[str, int], size: int, out: Path) -> tuple[Path, int]:
    from assistant.ingest.loaders import clean_doc_id

    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    written, total, copy = [], 0, 1
    while total < size:
        for row in rows:
            chunks = chunks_of.get(clean_doc_id(str(row.get("doc_id", ""))) or "", 0)
            if not chunks:
                continue
            written.append({**row, "doc_id": row["doc_id"] if copy == 1 else f"{row['doc_id']}-copy{copy}"})
            total += chunks
            if total >= size:
                break
        copy += 1
        if not written:
            raise SystemExit(f"none of {source}'s reports is in the base store")
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written), encoding="utf-8")
    return out, len(written)


def _ingest(source: Path, store: Path) -> tuple[float, float]:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(source), "--store", str(store)],
                             stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"assistant ingest {source} failed ({status})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def _questions(path: str | None, limit: int) -> list[str]:
    if not path:
        return ["How many freight cars did satellite images show at Tumangang station?",
                "Who won the game on Sunday?", "What did the president announce?"]
    return [json.loads(line)["question"] for line in Path(path).read_text().splitlines() if line.strip()][:limit]


def _ask(store: Path, questions: list[str]) -> tuple[tuple, tuple, int]:
    from assistant import Assistant

    assistant = Assistant(store=store)
    assistant.ask("Which reports are in the store?")  # loads the model and the answerer: start-up is apart
    passes = []
    for _ in range(2):
        retrieve, total = [], []
        for q in questions:
            answer = assistant.ask(q)
            retrieve.append(answer.timings_ms.retrieve)
            total.append(answer.timings_ms.total)
        passes.append((retrieve, total))
    chunks = assistant.store.chunk_count()
    assistant.store.close()
    return passes[0], passes[1], chunks


def _serve_rss(store: Path, questions: list[str]) -> float:
    from gradio_client import Client

    with serving(store) as (url, server):
        client = Client(url, verbose=False, analytics_enabled=False)
        for q in questions:
            client.predict(q, api_name="/ask")
        client.close()
        return vm_hwm_mib(server.pid)


if __name__ == "__main__":
    main()

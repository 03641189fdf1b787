"""Ingest and ask benchmark: prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/ingest_ask.py SOURCE [SOURCE...] [--questions Q.jsonl] [--limit-docs N]

1. `Assistant.ingest` of SOURCE into a new store (wall time, documents, chunks, chunks/s);
2. a bare `SentenceTransformer.encode` of exactly the same chunk texts in the same process (the floor);
3. a re-ingest of the unchanged source;
4. `ask` latency over the questions (the first 20 of Q.jsonl, or built-in ones), p50 and p95, warm.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

DEFAULT_QUESTIONS = [
    "How many freight cars did satellite images show at Tumangang station?",
    "Where did Kim Jong-un and Vladimir Putin meet?",
    "How long did Kim's trip to Russia last?",
    "What did Seoul warn about arms transfers?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+")
    parser.add_argument("--questions", help="JSONL with a 'question' field; the first 20 are asked")
    parser.add_argument("--store", help="store folder (default: a new temporary one)")
    args = parser.parse_args()

    from assistant import Assistant

    store = args.store or tempfile.mkdtemp(prefix="bench-store-")
    assistant = Assistant(store=store)
    started = time.perf_counter()
    assistant.embed_model  # noqa: B018  (loaded before timing the ingest: start-up is reported apart)
    assistant.chunker  # noqa: B018
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    report = assistant.ingest(args.sources)
    ingest_s = time.perf_counter() - started
    chunks = assistant.store.collection.get(include=["documents", "metadatas"])
    texts = [json.loads(m["_node_content"]) for m in chunks["metadatas"]]
    embedded = [_embed_text(assistant, node, doc) for node, doc in zip(texts, chunks["documents"])]

    model = assistant.embed_model._model  # the same SentenceTransformer, in the same process
    started = time.perf_counter()
    model.encode(embedded, batch_size=assistant.settings.embed_batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - started

    started = time.perf_counter()
    again = assistant.ingest(args.sources)
    reingest_s = time.perf_counter() - started

    questions = DEFAULT_QUESTIONS
    if args.questions:
        questions = [json.loads(line)["question"] for line in Path(args.questions).read_text().splitlines()
                     if line.strip()][:20]
    assistant.ask(questions[0])  # warm-up
    retrieve, total = [], []
    for q in questions:
        answer = assistant.ask(q)
        retrieve.append(answer.timings_ms.retrieve)
        total.append(answer.timings_ms.total)

    n = len(embedded)
    print(f"machine: {platform.machine()}, {platform.python_version()}, store {store}")
    print(f"model load + tokenizer: {load_s:.1f} s")
    print(f"ingest: {report.added + report.updated} documents ({report.failed} failed), {report.chunks} chunks "
          f"in {ingest_s:.1f} s = {n / ingest_s:.1f} chunks/s")
    print(f"bare SentenceTransformer.encode of the same {n} chunk texts: {encode_s:.1f} s = {n / encode_s:.1f} "
          f"chunks/s; ingest / encode = {ingest_s / encode_s:.2f}x")
    print(f"re-ingest unchanged: {reingest_s:.2f} s ({again.unchanged} unchanged), {ingest_s / reingest_s:.0f}x faster")
    print(f"ask over {len(questions)} questions: retrieve p50 {statistics.median(retrieve):.0f} ms, "
          f"total p50 {statistics.median(total):.0f} ms, p95 {_p95(total):.0f} ms")


def _embed_text(assistant, node: dict, text: str) -> str:
    from llama_index.core.schema import TextNode

    return assistant.chunker.embed_text(TextNode.model_validate(node | {"text": text}))


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()

"""Retrieval evaluation and ablation: prints a table, writes it as Markdown, asserts nothing.

  .venv/bin/python evals/retrieval.py [--sets dragonball realtimeqa corpus] [--work DIR] [--out FILE]
                                      [--no-stock] [--limit N]

For each set, side by side on the same questions and machine, with the eval harness's own scorer
(assistant/evaluation/metrics.py):
- stock LlamaIndex (../shared/tools/stock_llamaindex.py: default 1024-token chunks, the same MiniLM
  model, Chroma), run in its own process;
- this package with each piece switched on in turn: dense only, BM25 only, hybrid (fused by RRF),
  + contextual headers (title, outlet and date embedded and indexed with each chunk), + diversity
  (wire copies collapsed, further chunks of one report decayed).

Figures: evidence recall within 2,000 and 4,000 characters of retrieved text (chunks in rank order,
the last cut at the budget), answer recall within 4,000 characters (the reference answer appears in the
text), Hits@10 and MRR@10 over the evidence, and retrieval latency p50 (query embedding + search + fusion,
warm, one process). Stores are built once under --work and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SETS = {
    "dragonball": (SHARED / "data/dragonball_finance_en/docs.jsonl", SHARED / "data/dragonball_finance_en/qa.jsonl"),
    "realtimeqa": (SHARED / "data/realtimeqa/docs.jsonl", SHARED / "data/realtimeqa/qa.jsonl"),
    "corpus": (ROOT / "corpus", ROOT / "evals/sets/corpus.jsonl"),
}
# (name, settings overrides); a row's store is the one its chunking settings need.
OFF = {"contextual_headers": False, "collapse_duplicates": False, "title_boost": 1.0, "document_decay": 1.0}
CONFIGS = [
    ("dense only", {**OFF, "retrieval_mode": "dense"}),
    ("BM25 only", {**OFF, "retrieval_mode": "bm25"}),
    ("hybrid (RRF)", {**OFF, "retrieval_mode": "hybrid"}),
    ("hybrid + headers", {**OFF, "retrieval_mode": "hybrid", "contextual_headers": True}),
    ("+ diversity", {**OFF, "retrieval_mode": "hybrid", "contextual_headers": True, "collapse_duplicates": True,
                     "document_decay": 0.9}),
    ("+ title match (all: the defaults)", {}),
]
COLUMNS = ["budget_recall@2000", "budget_recall@4000", "answer_recall@4000", "hit@10", "mrr@10"]
TOP_K = 20  # enough chunks to fill 4,000 characters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["dragonball", "realtimeqa"], choices=list(SETS))
    parser.add_argument("--work", default="/tmp/retrieval-eval", help="stores are built here once, then reused")
    parser.add_argument("--out", help="also write the table as Markdown to this file")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock LlamaIndex baseline")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--configs", nargs="+", help="only these rows (by name)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a settings override for every row of this package, e.g. chunk_size=128")
    args = parser.parse_args()
    overrides = dict(_parse(o) for o in args.set)

    lines = [f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}; "
             f"top {TOP_K} chunks; overrides: {overrides or 'none'}", ""]
    for name in args.sets:
        docs, questions = SETS[name]
        if not docs.exists():
            print(f"skipping {name}: {docs} is absent", file=sys.stderr)
            continue
        from assistant.evaluation.run import load_set

        cases = [c for c in load_set(questions) if c.answerable][: args.limit]
        rows = []
        if not args.no_stock:
            rows.append(("stock LlamaIndex", stock(docs, cases, Path(args.work) / f"{name}-stock")))
        for label, config in CONFIGS:
            if args.configs and label not in args.configs:
                continue
            rows.append((label, ours(docs, cases, Path(args.work), name, {**config, **overrides})))
        lines += table(f"{name}: {len(cases)} answerable questions", rows)
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


def ours(docs: Path, cases: list, work: Path, name: str, overrides: dict) -> dict:
    from assistant import Assistant
    from assistant.settings import load_settings

    settings = load_settings(**overrides)
    chunking = f"c{settings.chunk_size}-o{settings.chunk_overlap}-h{int(settings.contextual_headers)}"
    assistant = Assistant(settings=settings.model_copy(update={"store": work / f"{name}-{chunking}"}))
    started = time.perf_counter()
    report = assistant.ingest([docs])
    print(f"{name} {chunking}: {assistant.store.chunk_count()} chunks ({report.chunks} embedded now, "
          f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
    results = []
    for case in cases:
        started = time.perf_counter()
        vector = assistant.embed_model.get_query_embedding(case.question)
        passages = assistant.retriever.retrieve(case.question, vector, TOP_K)
        ms = (time.perf_counter() - started) * 1000
        results.append((case, [{"doc_id": p.doc_id, "text": p.text} for p in passages], ms))
    return score(results, chunks=assistant.store.chunk_count())


def stock(docs: Path, cases: list, store: Path) -> dict:
    """The stock pipeline in its own process (its llama-index Settings are global)."""
    tool = SHARED / "tools" / "stock_llamaindex.py"
    if not store.exists():
        out = subprocess.run([sys.executable, str(tool), "ingest", str(docs), str(store)], check=True,
                             capture_output=True, text=True).stdout
        print(f"stock ingest: {out.strip().splitlines()[-1]}", file=sys.stderr)
    questions = store.with_suffix(".questions.jsonl")
    questions.write_text("".join(json.dumps({"id": c.id, "question": c.question}) + "\n" for c in cases))
    out = subprocess.run([sys.executable, str(tool), "query", str(store), str(questions), str(TOP_K)],
                         check=True, capture_output=True, text=True).stdout
    got = {r["id"]: r for r in map(json.loads, (line for line in out.splitlines() if line.startswith("{")))}
    results = [(c, [{"doc_id": d, "text": t} for d, t in zip(got[c.id]["docs"], got[c.id]["texts"])],
                got[c.id]["ms"]) for c in cases]
    import chromadb

    client = chromadb.PersistentClient(path=str(store), settings=chromadb.Settings(anonymized_telemetry=False))
    return score(results, chunks=client.get_collection("stock").count())


def score(results: list, chunks: int) -> dict:
    from assistant.evaluation import metrics as m

    totals: dict[str, list[float]] = {c: [] for c in COLUMNS}
    for case, passages, _ms in results:
        if case.evidence:
            got = m.retrieval_metrics(passages, case.evidence)
            for key in ("budget_recall@2000", "budget_recall@4000", "hit@10", "mrr@10"):
                totals[key].append(got[key])
        if case.references:
            totals["answer_recall@4000"].append(m.answer_recall(passages, case.references, 4000))
    out = {k: (sum(v) / len(v) if v else None) for k, v in totals.items()}
    out["latency_p50_ms"] = statistics.median(ms for _, _, ms in results)
    out["chunks"] = chunks
    return out


def table(title: str, rows: list[tuple[str, dict]]) -> list[str]:
    head = ["", "evidence in 2,000 chars", "evidence in 4,000 chars", "answer in 4,000 chars", "Hits@10", "MRR@10",
            "retrieval p50 ms", "chunks"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in rows:
        cells = ["n/a" if r[c] is None else f"{r[c]:.3f}" for c in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {r['latency_p50_ms']:.0f} | {r['chunks']} |")
    return [*lines, ""]


def _parse(item: str) -> tuple[str, object]:
    key, _, value = item.partition("=")
    return key, json.loads(value) if value[:1] in "0123456789-[{tf" else value


if __name__ == "__main__":
    main()

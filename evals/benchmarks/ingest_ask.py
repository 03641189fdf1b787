"""Ingest and ask benchmark: prints figures with their goals (Markdown), asserts nothing.

  .venv/bin/python evals/benchmarks/ingest_ask.py SOURCE [--questions Q.jsonl] [--stock] [--record]
                                                   [--set NAME=VALUE ...]

All in one process, on a copy of SOURCE (a folder or a JSONL file) in a new store:
1. `Assistant.ingest` (wall time, chunks, peak RSS); the model is loaded before, and timed apart;
2. a bare `SentenceTransformer.encode` of exactly the chunk texts that ingest embedded (the floor);
3. re-ingest of the unchanged copy; then one report in 20 changed (a sentence added to its end) and
   ingested again: how many chunks were encoded anew;
4. ask latency (retrieval and total, extractive) over the questions, p50 and p95: a first pass, where
   every passage is read for the first time, and a second, where its sentences are cached (a follow-up);
5. with --stock: stock LlamaIndex (../shared/tools/stock_llamaindex.py, its own process) ingests the
   same copy; recall@5 of both over the questions that carry evidence.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import p50, p95, peak_rss_mib, record

STOCK = Path(__file__).resolve().parents[3] / "shared" / "tools" / "stock_llamaindex.py"
DEFAULT_QUESTIONS = [
    "How many freight cars did satellite images show at Tumangang station?",
    "Where did Kim Jong-un and Vladimir Putin meet?",
    "How long did Kim's trip to Russia last?",
    "What did Seoul warn about arms transfers?",
]
CHANGED = " This report was updated after publication with one more sentence."
TOP = 20  # passages retrieved for the side by side: enough to fill 4,000 characters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("--questions", help="an evaluation set (JSONL); the first --max-questions are asked")
    parser.add_argument("--max-questions", type=int, default=50)
    parser.add_argument("--stock", action="store_true", help="also run stock LlamaIndex on the same copy")
    parser.add_argument("--work", help="folder for the copy and the stores (default: a new temporary one)")
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a settings override, e.g. sentence_vectors_at_ingest=true")
    args = parser.parse_args()

    from assistant import Assistant
    from assistant.settings import load_settings

    overrides = dict(item.split("=", 1) for item in args.set)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-"))
    source = _copy(Path(args.source), work)
    assistant = Assistant(store=work / "store", settings=load_settings(**overrides))
    started = time.perf_counter()
    assistant.embed_model, assistant.chunker  # noqa: B018  (start-up is its own benchmark)
    load_s = time.perf_counter() - started

    embedded: list[str] = []
    chunk_text = assistant.chunker.embed_text
    assistant.chunker.embed_text = lambda node: embedded.append(chunk_text(node)) or embedded[-1]  # recorded
    started = time.perf_counter()
    report = assistant.ingest([source])
    ingest_s = time.perf_counter() - started
    ingest_rss = peak_rss_mib()
    assistant.chunker.embed_text = chunk_text

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(assistant.model_path, device="cpu")
    started = time.perf_counter()
    model.encode(embedded, batch_size=assistant.settings.embed_batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - started

    started = time.perf_counter()
    again = assistant.ingest([source])
    reingest_s = time.perf_counter() - started
    changed = _change(source)
    started = time.perf_counter()
    edited = assistant.ingest([source]) if changed else None
    edited_s = time.perf_counter() - started

    cases = _questions(args.questions, args.max_questions)
    assistant.ask("Which reports are in the store?")  # loads the answerer's parts: start-up is apart
    passes = [_ask_all(assistant, [c["question"] for c in cases]) for _ in range(2)]

    n = len(embedded)
    ratio = ingest_s / encode_s
    lines = [f"Source: `{args.source}` ({report.added} documents, {report.failed} failed), {report.chunks} chunks of "
             f"{assistant.settings.chunk_size} word pieces; model load {load_s:.1f} s (not in the ingest); settings "
             f"overrides: {overrides or 'none'}.", "",
             "| figure | measured | goal |", "|---|---|---|",
             f"| ingest | {ingest_s:.1f} s ({n / ingest_s:.1f} chunks/s) | |",
             f"| bare `SentenceTransformer.encode` of the same {n} texts | {encode_s:.1f} s ({n / encode_s:.1f} "
             f"chunks/s) | |",
             f"| ingest / bare encode | {ratio:.2f}x | ≤ 1.2x: {_met(ratio <= 1.2)} |",
             f"| re-ingest unchanged | {reingest_s:.2f} s ({again.unchanged} unchanged), {ingest_s / reingest_s:.0f}x "
             f"faster | ≥ 50x: {_met(ingest_s / reingest_s >= 50)} |"]
    if edited:
        lines.append(f"| re-ingest with {changed} reports changed | {edited_s:.1f} s: {edited.updated} updated, "
                     f"{edited.embedded} of their {edited.chunks} chunks encoded anew | only changed chunks |")
    lines.append(f"| peak RSS after ingest | {ingest_rss:.0f} MiB | ≤ 2 GiB at 100k chunks |")
    for label, (retrieve, total) in zip(("first reading", "passages read before"), passes):
        lines.append(f"| ask, {len(cases)} questions, {label}: retrieval p50 / p95 | {p50(retrieve):.0f} / "
                     f"{p95(retrieve):.0f} ms | |")
        lines.append(f"| ask, {label}: total p50 / p95 | {p50(total):.0f} / {p95(total):.0f} ms | ≤ 100 ms: "
                     f"{_met(p50(total) <= 100)} (p50) |")
    if args.stock:
        lines += ["", *_side_by_side(assistant, source, work, cases, ingest_s, report.chunks)]
    print("\n".join(lines))
    if args.record:
        record(f"ingest_ask.py {args.source} {' '.join(args.set)}".rstrip(), lines)


def _copy(source: Path, work: Path) -> Path:
    """A private copy, so that changing reports for step 3 never touches the original."""
    target = work / "source" / source.name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
    return target


def _change(source: Path) -> int:
    """Add a sentence to the end of one report in 20 (JSONL rows, or text files in a folder)."""
    if source.suffix == ".jsonl":
        rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows[::20]:
            key = "body" if "body" in row else "text"
            row[key] = row[key].rstrip() + CHANGED
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return len(rows[::20])
    files = sorted(p for p in source.rglob("*") if p.suffix in (".txt", ".md"))[::20]
    for path in files:
        path.write_text(path.read_text(encoding="utf-8").rstrip() + CHANGED + "\n", encoding="utf-8")
    return len(files)


def _questions(path: str | None, limit: int) -> list[dict]:
    if not path:
        return [{"id": f"q{i}", "question": q, "evidence": [], "references": []}
                for i, q in enumerate(DEFAULT_QUESTIONS)]
    from assistant.evaluation.run import load_set

    return [{"id": c.id, "question": c.question, "evidence": c.evidence, "references": c.references}
            for c in load_set(Path(path))][:limit]


def _ask_all(assistant, questions: list[str]) -> tuple[list[float], list[float]]:
    retrieve, total = [], []
    for q in questions:
        answer = assistant.ask(q)
        retrieve.append(answer.timings_ms.retrieve)
        total.append(answer.timings_ms.total)
    return retrieve, total


def _side_by_side(assistant, source: Path, work: Path, cases: list[dict], ingest_s: float, chunks: int) -> list[str]:
    from assistant.evaluation.metrics import answer_recall, retrieval_metrics

    if not STOCK.exists():
        return [f"(stock LlamaIndex skipped: {STOCK} is absent)"]
    store = work / "stock"
    out = subprocess.run([sys.executable, str(STOCK), "ingest", str(source), str(store)], check=True,
                         capture_output=True, text=True).stdout
    stock = json.loads(out.strip().splitlines()[-1])
    scored = [c for c in cases if c["evidence"] or c["references"]]
    questions = work / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": c["id"], "question": c["question"]}) + "\n" for c in scored))
    out = subprocess.run([sys.executable, str(STOCK), "query", str(store), str(questions), str(TOP)], check=True,
                         capture_output=True, text=True).stdout
    got = {r["id"]: r for r in map(json.loads, (line for line in out.splitlines() if line.startswith("{")))}
    figures = {name: {"recall": [], "answer": [], "budget": [], "chars": []} for name in ("ours", "stock")}
    for c in scored:
        vector = assistant.embed_model.get_query_embedding(c["question"])
        hits = assistant.retriever.retrieve(c["question"], vector, TOP)
        runs = {"ours": [{"doc_id": p.doc_id, "text": p.text} for p in hits],
                "stock": [{"doc_id": d, "text": t} for d, t in zip(got[c["id"]]["docs"], got[c["id"]]["texts"])]}
        for name, passages in runs.items():
            figures[name]["chars"].append(sum(len(p["text"]) for p in passages[:5]))
            if c["evidence"]:
                figures[name]["recall"].append(retrieval_metrics(passages, c["evidence"])["recall@5"])
            if c["references"]:
                figures[name]["answer"].append(answer_recall(passages[:5], c["references"], 10**9))
                figures[name]["budget"].append(answer_recall(passages, c["references"], 4000))

    def mean(values: list[float]) -> str:
        return f"{sum(values) / len(values):.3f}" if values else "n/a"

    ours, theirs = figures["ours"], figures["stock"]
    head = ("| side by side, same copy | ingest | chunks | characters in top 5 | recall@5 | answer in top 5 | "
            "answer in 4,000 characters |")
    return [head, "|---|---|---|---|---|---|---|",
            f"| stock LlamaIndex (1024-token chunks; its time includes its model load) | {stock['seconds']:.1f} s | "
            f"{stock['chunks']} | {p50(theirs['chars']):,.0f} | {mean(theirs['recall'])} | {mean(theirs['answer'])} | "
            f"{mean(theirs['budget'])} |",
            f"| this package | {ingest_s:.1f} s | {chunks} | {p50(ours['chars']):,.0f} | {mean(ours['recall'])} | "
            f"{mean(ours['answer'])} | {mean(ours['budget'])} |",
            f"\nrecall@5 over the {len(ours['recall'])} questions with evidence; the answer columns (a reference "
            f"answer in the retrieved text: the top 5 passages, or the first 4,000 characters of the top {TOP}) over "
            f"the {len(ours['answer'])} with reference answers (assistant/evaluation/metrics.py). Characters in top "
            "5: median. The 4,000-character column compares the same amount of text."]


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


if __name__ == "__main__":
    main()

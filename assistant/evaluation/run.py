"""Run an evaluation set through `Assistant.ask` (the same API as the chat) and score every question."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from . import metrics as m
from .stats import LEVEL, RESAMPLES, SEED, interval

# The figures a comparison of two runs checks, and whether higher is better.
HEADLINE = {
    "retrieval.hit@10": True,
    "retrieval.recall@5": True,
    "retrieval.mrr@10": True,
    "retrieval.budget_recall@2000": True,
    "answer.contains": True,
    "answer.f1": True,
    "abstention.accuracy": True,
    "abstention.false_rate": False,
    "citations.quote_exact": True,
    "citations.cites_evidence": True,
    "confidence.auroc": True,
    "confidence.ece": False,
}


class EvalCase(BaseModel):
    """One question of an evaluation set (evals/README.md). Unknown fields are kept."""

    model_config = ConfigDict(extra="allow")

    id: str
    question: str
    reference_answer: str = ""
    answer_aliases: list[str] = []
    question_type: str = ""
    answerable: bool = True
    evidence: list[dict] = []
    tags: list[str] = []

    @property
    def references(self) -> list[str]:
        return [r for r in [self.reference_answer, *self.answer_aliases] if r]


def load_set(path: str | Path) -> list[EvalCase]:
    """Read an evaluation set; a bad line raises ValueError naming the file and line."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(EvalCase.model_validate_json(line))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not an evaluation case ({exc})") from exc
    return cases


def declared_corpus(set_path: str | Path) -> list[Path]:
    """The documents a set is asked against, from the TOML file beside it (`corpus.jsonl` →
    `corpus.toml`, key `corpus`: a path or a list, relative to that file); [] when there is none."""
    import tomllib

    sidecar = Path(set_path).with_suffix(".toml")
    if not sidecar.is_file():
        return []
    try:
        declared = tomllib.loads(sidecar.read_text(encoding="utf-8")).get("corpus", [])
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{sidecar}: not valid TOML ({exc})") from exc
    paths = [sidecar.parent / p for p in ([declared] if isinstance(declared, str) else declared)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"{sidecar}: the corpus it declares is missing: {', '.join(missing)}")
    return paths


def eval_store(corpus: list[Path]) -> Path:
    """A store of its own for each corpus, so that an evaluation never reads or writes the
    journalist's library and two runs over the same corpus share one ingest."""
    from ..settings import data_home

    resolved = sorted(str(p.resolve()) for p in corpus)
    name = Path(resolved[0]).name if len(resolved) == 1 else "corpus"
    return data_home() / "eval-stores" / f"{name}-{hashlib.sha256('|'.join(resolved).encode()).hexdigest()[:8]}"


def score_case(case: EvalCase, answer: dict, texts: dict[str, str]) -> dict:
    """All the scores of one question (a metric that does not apply is left out)."""
    scores: dict = {"abstained": answer["abstained"], "latency_ms": answer["timings_ms"]["total"]}
    scores["retrieval"] = m.retrieval_metrics(answer["retrieved"], case.evidence)
    if case.answerable and case.references:
        for budget in m.BUDGETS:
            scores["retrieval"][f"answer_recall@{budget}"] = m.answer_recall(answer["retrieved"], case.references,
                                                                             budget)
    if case.answerable:
        scores["false_abstention"] = float(answer["abstained"])
        if case.references:
            text = "" if answer["abstained"] else answer["answer"]
            scores["answer"] = {"em": m.exact_match(text, case.references),
                                "f1": m.token_f1(text, case.references),
                                "contains": m.contains_answer(text, case.references)}
    else:
        scores["correct_abstention"] = float(answer["abstained"])
    if not answer["abstained"]:
        scores["citations"] = m.citation_metrics(answer, texts, case.evidence, case.references)
    scores["verification"] = m.verification_metrics(answer)
    scores["confidence"] = answer.get("confidence", 0.0)
    scores["right"] = m.is_right(case.answerable, answer["abstained"], answer["answer"], case.references,
                                 scores.get("citations", {}).get("cites_evidence"))
    return scores


def run_eval(assistant, cases: list[EvalCase], out: str | Path, top_k: int | None = None,
             progress: bool = False, set_path: str = "", corpus: list[Path] | None = None,
             resamples: int = RESAMPLES, repeat: int = 1) -> dict:
    """Ask every question, write per_question.jsonl and summary.json under `out`, return the summary. Each
    headline metric gets a 95% interval from `resamples` bootstrap resamples of the questions (stats.py).
    With `repeat` > 1 the set is asked that many times: the summary's "repeat" has each pass's latency and
    whether every answer came out the same (the first pass is the one scored)."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records = []
    with (out / "per_question.jsonl").open("w", encoding="utf-8") as f:
        for case in tqdm(cases, desc="eval", unit="q", disable=not progress, file=sys.stderr):
            answer = assistant.ask(case.question, top_k=top_k).model_dump(mode="json")
            texts = assistant.store.texts(c["doc_id"] for c in answer["citations"])
            record = {"id": case.id, "question_type": case.question_type, "answerable": case.answerable,
                      "reference_answer": case.reference_answer, "answer_aliases": case.answer_aliases,
                      "evidence": case.evidence, "tags": case.tags, **answer,
                      "scores": score_case(case, answer, texts)}
            records.append(record)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    summary = summarise(records, resamples)
    if repeat > 1:
        summary["repeat"] = _repeat(assistant, cases, records, repeat, top_k, progress)
    summary["run"] = {
        "set": set_path, "corpus": [str(p) for p in corpus or []], "store": str(assistant.settings.store),
        "questions": len(records), "wall_seconds": round(time.perf_counter() - started, 2),
        "top_k": top_k or assistant.settings.top_k, "answerer": assistant.settings.answerer,
        "settings": assistant.settings.model_dump(mode="json"),
        "model": Path(assistant.model_path).name, "model_hash": _model_hash(assistant.model_path),
        "corpus_hash": hashlib.sha256("".join(sorted(d.hash for d in assistant.documents())).encode()).hexdigest(),
        "documents": len(assistant.documents()), "code_version": _code_version(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def _repeat(assistant, cases: list[EvalCase], records: list[dict], repeat: int, top_k: int | None,
            progress: bool) -> dict:
    """Asks the set `repeat` - 1 more times: each pass's latency p50 and p95, and the questions whose answer
    (text and cited spans) differed from the first pass's."""
    from tqdm import tqdm

    def outcome(answer: dict) -> tuple:
        return answer["answer"], tuple((c["doc_id"], c["start"], c["end"]) for c in answer["citations"])

    first = {r["id"]: outcome(r) for r in records}
    passes = [[r["timings_ms"]["total"] for r in records]]
    differing: set[str] = set()
    for i in range(2, repeat + 1):
        latencies = []
        for case in tqdm(cases, desc=f"repeat {i}/{repeat}", unit="q", disable=not progress, file=sys.stderr):
            answer = assistant.ask(case.question, top_k=top_k).model_dump(mode="json")
            latencies.append(answer["timings_ms"]["total"])
            if outcome(answer) != first[case.id]:
                differing.add(case.id)
        passes.append(latencies)
    p50 = [m.percentile(p, 50) for p in passes]
    return {"passes": repeat, "latency_p50_ms": p50, "latency_p95_ms": [m.percentile(p, 95) for p in passes],
            "latency_p50_spread_ms": round(max(p50) - min(p50), 1), "identical_answers": not differing,
            "differing": sorted(differing)}


def summarise(records: list[dict], resamples: int = RESAMPLES) -> dict:
    """Means of every metric over the questions it applies to, counts, and the 95% interval of each
    headline metric (bootstrap over the questions; `resamples` 0: none)."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    def mean(values: list[float]) -> float | None:
        return rounded(sum(values) / len(values)) if values else None

    def collect(group: str) -> dict:
        keys = sorted({k for r in records for k in r["scores"].get(group, {})})
        return {k: mean([r["scores"][group][k] for r in records if k in r["scores"].get(group, {})]) for k in keys}

    answerable = [r for r in records if r["answerable"]]
    calibration = calibration_set(records)
    confidences, labels = [c for c, _ in calibration], [label for _, label in calibration]
    table = m.reliability(confidences, labels)
    latencies = [r["scores"]["latency_ms"] for r in records]
    return {
        "counts": {"questions": len(records), "answerable": len(answerable),
                   "unanswerable": len(records) - len(answerable),
                   "with_evidence": sum(1 for r in records if r["evidence"]),
                   "answered": sum(1 for r in records if not r["abstained"]),
                   "calibrated": len(calibration)},
        "retrieval": collect("retrieval"),
        "answer": collect("answer"),
        "abstention": {
            "accuracy": mean([r["scores"]["correct_abstention"] for r in records if not r["answerable"]]),
            "false_rate": mean([r["scores"]["false_abstention"] for r in answerable]),
        },
        "citations": collect("citations"),
        "verification": collect("verification"),
        "confidence": {"auroc": rounded(m.auroc(confidences, labels)), "ece": rounded(m.calibration_error(table)),
                       "mean": mean(confidences), "accuracy": mean([float(label) for label in labels])},
        "reliability": table,
        "latency_ms": {"p50": m.percentile(latencies, 50), "p95": m.percentile(latencies, 95),
                       "total": round(sum(latencies), 1)},
        "intervals": {key: interval(records, key, resamples) for key in HEADLINE} if resamples else {},
        "statistics": {"level": LEVEL, "resamples": resamples, "seed": SEED, "method": "bootstrap over questions"},
    }


def calibration_set(records: list[dict]) -> list[tuple[float, bool]]:
    """(confidence, was the best answer right) for every question where that is known (evals/README.md).
    Records of runs older than `right` are left out."""
    pairs = []
    for r in records:
        scores = r["scores"]
        label = m.best_answer_right(r["answerable"], r["abstained"], scores.get("right"))
        if "right" in scores and label is not None:
            pairs.append((scores.get("confidence", 0.0), label))
    return pairs


def headline(summary: dict, key: str) -> float | None:
    group, name = key.split(".", 1)
    return summary.get(group, {}).get(name)


def _model_hash(path: str) -> str:
    """sha256 over the model folder's files (names and bytes): two runs used the same weights or not."""
    h = hashlib.sha256()
    for file in sorted(Path(path).rglob("*")):
        if file.is_file():
            h.update(file.relative_to(path).as_posix().encode())
            h.update(hashlib.sha256(file.read_bytes()).digest())
    return h.hexdigest()


def _code_version() -> str:
    from importlib.metadata import version

    __version__ = version("report-assistant")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__

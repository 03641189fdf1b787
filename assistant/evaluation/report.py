"""Reports of a run (report.md, report.html with matplotlib plots) and the comparison of two runs."""

from __future__ import annotations

import html
import json
from pathlib import Path

from .metrics import KS
from .run import HEADLINE, headline

WORST = 10


def load_run(folder: str | Path) -> tuple[dict, list[dict]]:
    folder = Path(folder)
    summary_file = folder / "summary.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{folder}: not a run folder (no summary.json)")
    records = [json.loads(line) for line in (folder / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    return json.loads(summary_file.read_text(encoding="utf-8")), records


def write_report(folder: str | Path) -> tuple[Path, Path]:
    """report.md and report.html (with the plots as PNG files beside them) for the run in `folder`."""
    folder = Path(folder)
    summary, records = load_run(folder)
    plots = _plots(folder, summary, records)
    tables = _tables(summary)
    worst = _worst(records)
    md = [f"# Evaluation report: {summary['run'].get('set') or folder.name}", "", _run_line(summary), ""]
    for title, rows in tables:
        md += [f"## {title}", "", "| metric | value |", "|---|---|"]
        md += [f"| {k} | {_fmt(v)} |" for k, v in rows]
        md.append("")
    md += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    md += ["## Worst questions", ""]
    for r in worst:
        md += [f"### {r['id']} ({r['question_type'] or 'untyped'})", "", f"**Q:** {r['question']}  ",
               f"**Reference:** {r['reference_answer'] or '(unanswerable)'}  ", f"**Answer:** {r['answer']}  ",
               f"**Why here:** {_why(r)}", "", "Retrieved:"]
        md += [f"{p['rank']}. `{p['doc_id']}` ({p['score']:.2f}) {' '.join(p['text'].split())[:160]}"
               for p in r["retrieved"][:5]]
        md.append("")
    md_path = folder / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")

    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>{STYLE}</head><body>",
             f"<h1>Evaluation report: {e(summary['run'].get('set') or folder.name)}</h1><p>{e(_run_line(summary))}</p>"]
    for title, rows in tables:
        parts.append(f"<h2>{e(title)}</h2><table>" + "".join(
            f"<tr><td>{e(k)}</td><td>{e(_fmt(v))}</td></tr>" for k, v in rows) + "</table>")
    parts.append("<h2>Plots</h2><div class='plots'>" + "".join(
        f"<img src='{e(name)}' alt='{e(name)}'>" for name in plots) + "</div><h2>Worst questions</h2>")
    for r in worst:
        passages = "".join(f"<li><code>{e(p['doc_id'])}</code> ({p['score']:.2f}) "
                           f"{e(' '.join(p['text'].split())[:200])}</li>" for p in r["retrieved"][:5])
        parts.append(f"<h3>{e(r['id'])}</h3><p><b>Q:</b> {e(r['question'])}<br><b>Reference:</b> "
                     f"{e(r['reference_answer'] or '(unanswerable)')}<br><b>Answer:</b> {e(r['answer'])}<br>"
                     f"<b>Why here:</b> {e(_why(r))}</p><ol>{passages}</ol>")
    parts.append("</body></html>")
    html_path = folder / "report.html"
    html_path.write_text("".join(parts), encoding="utf-8")
    return md_path, html_path


STYLE = ("<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:"
         "collapse}td{border:1px solid #ccc;padding:2px 8px}.plots img{width:48%;margin:1%}</style>")


def _run_line(summary: dict) -> str:
    run, counts = summary["run"], summary["counts"]
    return (f"{counts['questions']} questions ({counts['answerable']} answerable, {counts['unanswerable']} not), "
            f"{run['documents']} documents, top_k {run['top_k']}, answerer {run['answerer']}, model {run['model']}, "
            f"code {run['code_version']}, {run['wall_seconds']} s")


def _tables(summary: dict) -> list[tuple[str, list[tuple[str, object]]]]:
    return [
        ("Headline", [(k, headline(summary, k)) for k in HEADLINE]),
        ("Retrieval", list(summary["retrieval"].items())),
        ("Answers", list(summary["answer"].items())),
        ("Abstention", list(summary["abstention"].items())),
        ("Citations", list(summary["citations"].items())),
        ("Verification of answer sentences", list(summary.get("verification", {}).items())),
        ("Confidence", [("questions", summary["counts"].get("calibrated")),
                        *summary.get("confidence", {}).items()]),
        ("Latency (ms)", list(summary["latency_ms"].items())),
    ]


def _fmt(value: object) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _badness(r: dict) -> float:
    s = r["scores"]
    if not r["answerable"]:
        return 0.0 if r["abstained"] else 2.0
    return (1.0 - s["retrieval"].get("hit@10", 1.0)) + (1.0 - s.get("answer", {}).get("f1", 1.0)) + (
        1.0 if r["abstained"] else 0.0)


def _why(r: dict) -> str:
    s = r["scores"]
    if not r["answerable"]:
        return "answered an unanswerable question" if not r["abstained"] else "ok"
    reasons = []
    if s["retrieval"] and not s["retrieval"].get("hit@10"):
        reasons.append("no evidence in the top 10")
    if r["abstained"]:
        reasons.append("abstained")
    elif s.get("answer") and not s["answer"]["contains"]:
        reasons.append("answer does not contain the reference")
    elif s.get("answer"):
        reasons.append(f"right, but a whole sentence against a short reference (token F1 {s['answer']['f1']:.2f})")
    return ", ".join(reasons) or "ok"


def _worst(records: list[dict]) -> list[dict]:
    return [r for r in sorted(records, key=_badness, reverse=True) if _badness(r) > 0][:WORST]


def _plots(folder: Path, summary: dict, records: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
        names.append(name)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    recall = [summary["retrieval"].get(f"recall@{k}") or 0 for k in KS]
    ax.plot(KS, recall, marker="o")
    ax.set(title="Evidence recall@k", xlabel="k", ylabel="recall", ylim=(0, 1.02), xticks=list(KS))
    save(fig, "recall_at_k.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    top = [r["retrieved"][0]["score"] for r in records if r["retrieved"]]
    cited = [c["score"] for r in records for c in r["citations"]]
    ax.hist([top, cited], bins=20, label=["top passage (cosine)", "cited sentence (answer score)"])
    ax.set(title="Score distributions", xlabel="score", ylabel="count")
    ax.legend(fontsize=8)
    save(fig, "scores.png")

    types = sorted({r["question_type"] or "untyped" for r in records})
    fig, ax = plt.subplots(figsize=(5, 3.2))
    values = []
    for t in types:
        group = [r for r in records if (r["question_type"] or "untyped") == t]
        ok = [(not r["abstained"]) if r["answerable"] else r["abstained"] for r in group]
        values.append(sum(ok) / len(ok))
    ax.barh(types, values)
    ax.set(title="Answered (or rightly abstained) by question type", xlim=(0, 1))
    ax.tick_params(axis="y", labelsize=7)
    save(fig, "by_type.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist([r["scores"]["latency_ms"] for r in records], bins=20)
    ax.set(title="Latency per question", xlabel="ms", ylabel="questions")
    save(fig, "latency.png")

    if "reliability" in summary:  # runs older than confidence have no table
        table, confidence = summary["reliability"], summary["confidence"]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        bars = ax.bar([(b["low"] + b["high"]) / 2 for b in table], [b["accuracy"] or 0 for b in table],
                      width=1 / len(table), edgecolor="black", alpha=0.7, label="share right")
        ax.bar_label(bars, labels=[str(b["count"]) if b["count"] else "" for b in table], fontsize=7)
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
        ax.set(title=f"Reliability (AUROC {_fmt(confidence['auroc'])}, ECE {_fmt(confidence['ece'])})",
               xlabel="confidence (bars: questions per bin)", ylabel="share right", xlim=(0, 1), ylim=(0, 1.1))
        ax.legend(fontsize=8, loc="upper left")
        save(fig, "reliability.png")
    return names


def compare_runs(a: str | Path, b: str | Path, fail_on_drop: float | None = None) -> tuple[str, bool]:
    """A side-by-side table of every metric and the questions whose outcome changed; `failed` is True when a
    headline metric of B is worse than A's by more than `fail_on_drop` points (metrics are 0..1, points
    are hundredths)."""
    sa, ra = load_run(a)
    sb, rb = load_run(b)
    lines = ["| metric | A | B | change |", "|---|---|---|---|"]
    failed = []
    for group in ("retrieval", "answer", "abstention", "citations", "verification", "confidence", "latency_ms"):
        for key in sorted(set(sa.get(group, {})) | set(sb.get(group, {}))):
            va, vb = sa.get(group, {}).get(key), sb.get(group, {}).get(key)
            change = "" if va is None or vb is None else f"{vb - va:+.3f}"
            name = f"{group}.{key}"
            mark = ""
            if name in HEADLINE and va is not None and vb is not None and fail_on_drop is not None:
                drop = (va - vb) if HEADLINE[name] else (vb - va)
                if drop * 100 > fail_on_drop:
                    failed.append(name)
                    mark = " DROP"
            lines.append(f"| {name}{' *' if name in HEADLINE else ''} | {_fmt(va)} | {_fmt(vb)} | {change}{mark} |")
    outcome_a = {r["id"]: _outcome(r) for r in ra}
    changed = [(r["id"], outcome_a[r["id"]], _outcome(r)) for r in rb
               if r["id"] in outcome_a and outcome_a[r["id"]] != _outcome(r)]
    lines += ["", f"{len(changed)} questions changed outcome:"]
    lines += [f"- {qid}: {before} -> {after}" for qid, before, after in changed]
    if failed:
        lines += ["", f"FAILED: {', '.join(failed)} dropped by more than {fail_on_drop} points"]
    return "\n".join(lines), bool(failed)


def _outcome(r: dict) -> str:
    if not r["answerable"]:
        return "abstained (right)" if r["abstained"] else "answered (wrong)"
    if r["abstained"]:
        return "abstained (wrong)"
    found = r["scores"]["retrieval"].get("hit@10")
    good = r["scores"].get("answer", {}).get("contains")
    return f"answered, evidence {'found' if found else 'missed'}" + ("" if good is None else
                                                                    f", answer {'right' if good else 'wrong'}")

"""Reports of a run (report.md, report.html with matplotlib plots) and the comparison of two runs."""

from __future__ import annotations

import html
import json
from pathlib import Path

from .metrics import KS
from .run import HEADLINE, headline
from .stats import RESAMPLES, difference

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
        ("Headline (95% interval: bootstrap over the questions)",
         [(k, _with_interval(headline(summary, k), summary.get("intervals", {}).get(k))) for k in HEADLINE]),
        ("Retrieval", list(summary["retrieval"].items())),
        ("Answers", list(summary["answer"].items())),
        ("Abstention", list(summary["abstention"].items())),
        ("Citations", list(summary["citations"].items())),
        ("Verification of answer sentences", list(summary.get("verification", {}).items())),
        ("Confidence", [("questions", summary["counts"].get("calibrated")),
                        *summary.get("confidence", {}).items()]),
        ("Latency (ms)", list(summary["latency_ms"].items())),
    ]


def _with_interval(value: float | None, bounds: list | None) -> object:
    """A headline figure with its interval, "0.812 [0.751, 0.870]" (runs older than intervals: the figure)."""
    if value is None or not bounds:
        return value
    return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


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


def compare_runs(a: str | Path, b: str | Path, fail_on_drop: float | None = None, resamples: int = RESAMPLES
                 ) -> tuple[str, bool]:
    """A table of every metric of runs A and B with B - A on the questions both scored, its paired 95%
    interval and test (stats.py), and the questions whose outcome changed. `failed` is True when a headline
    metric of B is significantly worse than A's (its interval excludes 0) by more than `fail_on_drop` points
    (metrics are 0..1, points are hundredths)."""
    differences, failed, changed = _compare(a, b, fail_on_drop, resamples)
    return _table(differences, failed, changed, fail_on_drop, resamples), bool(failed)


def _table(differences: list, failed: list[str], changed: list, fail_on_drop: float | None, resamples: int) -> str:
    lines = ["| metric | A | B | B - A | 95% interval | p (test) | |", "|---|---|---|---|---|---|---|"]
    for name, va, vb, d in differences:
        change = "" if va is None or vb is None else f"{vb - va:+.3f}"
        paired = d is not None and d.questions and d.low is not None
        spread = f"[{d.low:+.3f}, {d.high:+.3f}]" if paired else ""
        p = f"{d.p:.3f} ({d.test})" if paired and d.p is not None else ""
        mark = ("DROP" if name in failed else "significant") if paired and d.significant else ""
        lines.append(f"| {name}{' *' if name in HEADLINE else ''} | {_fmt(va)} | {_fmt(vb)} | {change} | {spread} "
                     f"| {p} | {mark} |")
    lines += ["", "B - A is on the questions both runs scored; significant: its 95% interval excludes 0 "
              f"(paired bootstrap, {resamples:,} resamples; evals/README.md, Statistics).", "",
              f"{len(changed)} questions changed outcome:"]
    lines += [f"- {rb['id']}: {_outcome(ra)} -> {_outcome(rb)}" for ra, rb in changed]
    if failed:
        lines += ["", f"FAILED: {', '.join(failed)} dropped significantly, by more than {fail_on_drop} points"]
    return "\n".join(lines)


def _compare(a: str | Path, b: str | Path, fail_on_drop: float | None, resamples: int):
    """Every metric's (name, A, B, Difference or None), the headline metrics that failed, and the question
    pairs whose outcome changed."""
    sa, ra = load_run(a)
    sb, rb = load_run(b)
    differences, failed = [], []
    for group in ("retrieval", "answer", "abstention", "citations", "verification", "confidence", "latency_ms"):
        for key in sorted(set(sa.get(group, {})) | set(sb.get(group, {}))):
            name = f"{group}.{key}"
            va, vb = sa.get(group, {}).get(key), sb.get(group, {}).get(key)
            d = None if group == "latency_ms" or None in (va, vb) else difference(ra, rb, name, resamples)
            if d is not None and name in HEADLINE and fail_on_drop is not None and d.significant:
                drop = -d.diff if HEADLINE[name] else d.diff
                if drop * 100 > fail_on_drop:
                    failed.append(name)
            differences.append((name, va, vb, d))
    before = {r["id"]: r for r in ra}
    changed = [(before[r["id"]], r) for r in rb if r["id"] in before and _outcome(before[r["id"]]) != _outcome(r)]
    return differences, failed, changed


def write_comparison(a: str | Path, b: str | Path, out: str | Path, fail_on_drop: float | None = None,
                     resamples: int = RESAMPLES) -> Path:
    """report.html (and report.md) comparing two runs in `out`: the table, a forest plot of the headline
    differences with their intervals, and each question whose outcome changed with both answers and their
    citations side by side."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    differences, failed, changed = _compare(a, b, fail_on_drop, resamples)
    table = _table(differences, failed, changed, fail_on_drop, resamples)
    headline_diffs = [(name, d) for name, _, _, d in differences if name in HEADLINE and d and d.low is not None]
    _forest(out / "forest.png", headline_diffs)
    (out / "report.md").write_text(f"# Comparison: {Path(b).name} against {Path(a).name}\n\n{table}\n\n"
                                   "![forest.png](forest.png)\n", encoding="utf-8")
    e = html.escape
    rows = "".join(
        f"<tr class='{'sig' if d and d.significant else ''}'><td>{e(name)}{' *' if name in HEADLINE else ''}</td>"
        f"<td>{e(_fmt(va))}</td><td>{e(_fmt(vb))}</td>"
        f"<td>{'' if va is None or vb is None else f'{vb - va:+.3f}'}</td>"
        f"<td>{f'[{d.low:+.3f}, {d.high:+.3f}]' if d and d.low is not None else ''}</td>"
        f"<td>{f'{d.p:.3f} ({e(d.test)})' if d and d.p is not None else ''}</td></tr>"
        for name, va, vb, d in differences)
    questions = "".join(
        f"<div class='question'><h3>{e(rb['id'])}: {e(_outcome(ra))} &rarr; {e(_outcome(rb))}</h3>"
        f"<p><b>Q:</b> {e(rb['question'])}<br><b>Reference:</b> {e(rb.get('reference_answer') or '(unanswerable)')}"
        f"</p><div class='sides'>{_side('A: ' + Path(a).name, ra)}{_side('B: ' + Path(b).name, rb)}</div></div>"
        for ra, rb in changed)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Comparison</title>{STYLE}{COMPARE_STYLE}"
            f"</head><body><h1>{e(Path(b).name)} against {e(Path(a).name)}</h1>"
            "<p>B - A on the questions both runs scored, with its paired 95% interval (bootstrap over questions) and "
            "test; highlighted rows: the interval excludes 0. * headline metric.</p>"
            "<h2>Headline differences</h2><img class='forest' src='forest.png' alt='forest plot of the differences'>"
            "<h2>Every metric</h2><table><tr><th>metric</th><th>A</th><th>B</th><th>B - A</th><th>95% interval</th>"
            f"<th>p (test)</th></tr>{rows}</table>"
            f"<h2 id='changed'>Questions whose outcome changed ({len(changed)})</h2>{questions or '<p>None.</p>'}"
            "</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


COMPARE_STYLE = ("<style>.sides{display:flex;gap:1em}.side{flex:1;border:1px solid #ccc;padding:0 .8em}"
                 "tr.sig td{background:#fff3cd}.forest{max-width:100%}blockquote{margin:.3em 0 .3em 1em;"
                 "color:#444}</style>")


def _side(title: str, r: dict) -> str:
    """One run's answer to a question, with its citations, for the side-by-side view."""
    e = html.escape
    quotes = "".join(f"<li>[{c['marker']}] <b>{e(c.get('title') or c['doc_id'])}</b> "
                     f"({e(c.get('source') or '')} {e(c.get('date') or '')})<blockquote>{e(c['quote'])}</blockquote>"
                     f"</li>" for c in r.get("citations", []))
    return (f"<div class='side'><h4>{e(title)}</h4><p>{e(r['answer'])}</p>"
            f"<ol class='citations'>{quotes}</ol></div>")


def _forest(path: Path, diffs: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.45 * max(len(diffs), 1) + 1.2))
    for y, (_, d) in enumerate(reversed(diffs)):
        color = "tab:red" if d.significant else "tab:grey"
        ax.errorbar([d.diff], [y], xerr=[[d.diff - d.low], [d.high - d.diff]], fmt="o", color=color, capsize=3)
    ax.set_yticks(range(len(diffs)), [name for name, _ in reversed(diffs)], fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(title="B - A with 95% intervals (red: excludes 0)", xlabel="difference")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _outcome(r: dict) -> str:
    if not r["answerable"]:
        return "abstained (right)" if r["abstained"] else "answered (wrong)"
    if r["abstained"]:
        return "abstained (wrong)"
    found = r["scores"]["retrieval"].get("hit@10")
    good = r["scores"].get("answer", {}).get("contains")
    return f"answered, evidence {'found' if found else 'missed'}" + ("" if good is None else
                                                                    f", answer {'right' if good else 'wrong'}")
